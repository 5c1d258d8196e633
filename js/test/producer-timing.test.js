// The send kinds whose effect is in when (or whether) a message arrives:
// oneway, a delay level, a delivery time. Each is consumed by a push
// consumer that notes when every message arrived.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, PushConsumer, ConsumeResult } from '../src/index.js';
import { BROKERS, nameServer, unique, eventually, waitForRoute, text } from '../test-support/broker.js';

/** A started producer and a consumer of `topic` recording arrival times by body. */
async function pair(ns, topic) {
  const producer = new Producer({ nameServer: ns, group: unique('wasm_pg_timing') });
  await producer.start();
  await producer.send({ topic, body: 'creates the topic' });
  await waitForRoute(ns, topic);
  const arrived = new Map();
  const consumer = new PushConsumer({ nameServer: ns, group: unique('wasm_cg_timing'), consumeFrom: 'first' });
  consumer.subscribe(topic, '*', async (msgs) => {
    for (const m of msgs) arrived.set(text(m.body), Date.now());
    return ConsumeResult.Success;
  });
  await consumer.start();
  await eventually(() => arrived.has('creates the topic'), { what: 'the consumer to start consuming' });
  return { producer, consumer, arrived };
}

for (const { label, variable } of BROKERS) {
  test(`a oneway send is written without an acknowledgement and arrives (broker ${label})`, { timeout: 30_000 }, async () => {
    const ns = nameServer(variable);
    const topic = unique('wasm_oneway');
    const { producer, consumer, arrived } = await pair(ns, topic);
    try {
      const w = await producer.sendOneway({ topic, body: 'oneway' });
      assert.equal(w.status, 'WRITTEN');
      assert.match(w.msgId, /^[0-9A-F]{32}$/);
      await eventually(() => arrived.has('oneway'), { what: 'the oneway message' });
    } finally {
      await consumer.shutdown();
      await producer.shutdown();
    }
  });

  test(`a message with delay level 2 arrives about 5 s later, not before (broker ${label})`, { timeout: 40_000 }, async () => {
    const ns = nameServer(variable);
    const topic = unique('wasm_delay');
    const { producer, consumer, arrived } = await pair(ns, topic);
    try {
      const sentAt = Date.now();
      await producer.send({ topic, body: 'delayed', delayLevel: 2 });
      await producer.send({ topic, body: 'now' });
      await eventually(() => arrived.has('delayed'), { timeoutMs: 30_000, what: 'the delayed message' });
      const waited = arrived.get('delayed') - sentAt;
      assert.ok(waited >= 4_000, `level 2 (5 s) arrived after ${waited} ms`);
      assert.ok(arrived.get('now') < arrived.get('delayed'), 'the undelayed message came first');
    } finally {
      await consumer.shutdown();
      await producer.shutdown();
    }
  });
}

test('a message with a delivery time arrives at that time, not before (broker 5.5.0 timer messages)', { timeout: 40_000 }, async () => {
  const ns = nameServer('RMQ_TEST_NAMESRV_V5');
  const topic = unique('wasm_deliver_at');
  const { producer, consumer, arrived } = await pair(ns, topic);
  try {
    const at = Date.now() + 4_000;
    await producer.send({ topic, body: 'at', deliverAt: at });
    await eventually(() => arrived.has('at'), { timeoutMs: 30_000, what: 'the timed message' });
    const early = at - arrived.get('at');
    assert.ok(early <= 500, `arrived ${early} ms before its delivery time`);
  } finally {
    await consumer.shutdown();
    await producer.shutdown();
  }
});
