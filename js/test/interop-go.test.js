// JS <-> Go: what the npm package sends, the Apache RocketMQ Go client
// (rocketmq-client-go v2, rmq-go-peer) consumes intact, and the reverse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, PushConsumer, ConsumeResult } from '../src/index.js';
import { BROKERS, nameServer, unique, eventually, waitForRoute, text } from '../test-support/broker.js';
import { goPeer, runGoPeer } from '../test-support/go-peer.js';

/** Properties the broker or the Go consumer add (see tests/tests/interop_go.rs). */
const ADDED = ['MSG_REGION', 'TRACE_ON', 'CLUSTER', 'MIN_OFFSET', 'MAX_OFFSET', 'CONSUME_START_TIME'];

const BODY = 'héllo wörld, こんにちは, 🚀 — rmq.js → Go';

for (const { label, variable } of BROKERS) {
  test(`the Go client consumes what the JS producer sent: tag, keys, properties, UTF-8 body (broker ${label})`, { timeout: 20_000 }, async () => {
    goPeer();
    const ns = nameServer(variable);
    const topic = unique('wasm_to_go');
    const producer = new Producer({ nameServer: ns, group: unique('wasm_pg') });
    await producer.start();
    let r;
    try {
      r = await producer.send({
        topic,
        tag: 'TagA',
        keys: ['order-17', 'customer-9'],
        properties: { color: 'blue', größe: '42 €' },
        body: BODY,
      });
      assert.equal(r.status, 'SEND_OK');
    } finally {
      await producer.shutdown();
    }
    // The Go push consumer's start fails at once ("route info not found")
    // when the name server has no route yet for the topic the send created.
    await waitForRoute(ns, topic);
    const lines = await runGoPeer(
      ['consume', '--namesrv', ns, '--group', unique('go_cg'), '--topic', topic, '--from-first', '--expect', '1', '--timeout-sec', '15'],
      18_000,
    );
    const m = lines.find((l) => l.type === 'message' && l.msgId === r.msgId);
    assert.ok(m, `the Go consumer got msgId ${r.msgId}: ${JSON.stringify(lines)}`);
    assert.equal(m.topic, topic);
    assert.equal(m.tags, 'TagA');
    assert.equal(m.keys, 'order-17 customer-9');
    assert.equal(Buffer.from(m.body_base64, 'base64').toString('utf8'), BODY);
    assert.equal(m.offsetMsgId, r.offsetMsgId);
    assert.equal(m.queueId, r.queue.queueId);
    assert.equal(m.queueOffset, r.queueOffset);
    const props = Object.fromEntries(Object.entries(m.properties).filter(([k]) => !ADDED.includes(k)));
    assert.deepEqual(props, {
      TAGS: 'TagA',
      KEYS: 'order-17 customer-9',
      UNIQ_KEY: r.msgId,
      color: 'blue',
      größe: '42 €',
    });
  });

  test(`the JS push consumer receives what the Go client sent: tag, keys, properties, UTF-8 body (broker ${label})`, { timeout: 20_000 }, async () => {
    goPeer();
    const ns = nameServer(variable);
    const topic = unique('go_to_wasm');
    const lines = await runGoPeer([
      'produce', '--namesrv', ns, '--group', unique('go_pg'), '--topic', topic,
      '--count', '3', '--tag', 'TagGo', '--keys', 'k1,k2', '--prop', 'color=blue', '--prop', 'städt=köln',
      '--body', 'héllo 世界 {i}',
    ]);
    const sends = lines.filter((l) => l.type === 'send');
    assert.equal(sends.length, 3);
    assert.ok(sends.every((s) => s.status === 'SEND_OK'), JSON.stringify(sends));
    await waitForRoute(ns, topic);

    const got = [];
    const consumer = new PushConsumer({ nameServer: ns, group: unique('wasm_cg'), consumeFrom: 'first' });
    consumer.subscribe(topic, 'TagGo', (msgs) => {
      got.push(...msgs);
      return ConsumeResult.Success;
    });
    await consumer.start();
    try {
      await eventually(() => sends.every((s) => got.some((m) => m.msgId === s.msgId)), {
        timeoutMs: 15_000,
        what: `3 Go messages (got ${got.length})`,
      });
    } finally {
      await consumer.shutdown();
    }
    for (const s of sends) {
      const m = got.find((g) => g.msgId === s.msgId);
      assert.equal(m.topic, topic);
      assert.equal(m.tags, 'TagGo');
      assert.deepEqual(m.keys, ['k1', 'k2']);
      assert.equal(m.properties.color, 'blue');
      assert.equal(m.properties['städt'], 'köln');
      assert.equal(text(m.body), `héllo 世界 ${s.index}`);
      assert.equal(m.offsetMsgId, s.offsetMsgId);
      assert.equal(m.queueOffset, s.queueOffset);
    }
  });
}
