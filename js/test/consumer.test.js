import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, PushConsumer, ConsumeResult, RmqError } from '../src/index.js';
import { BROKERS, nameServer, unique, eventually, waitForRoute } from '../test-support/broker.js';

const text = (bytes) => new TextDecoder().decode(bytes);

for (const { label, variable } of BROKERS) {
  test(`a push consumer receives what the producer sent, filtered by tag (broker ${label})`, async () => {
    const ns = nameServer(variable);
    const topic = unique('wasm_consume');
    const producer = new Producer({ nameServer: ns, group: unique('wasm_pg') });
    await producer.start();
    const consumer = new PushConsumer({ nameServer: ns, group: unique('wasm_cg'), consumeFrom: 'first' });
    try {
      // The first send creates the topic, so the consumer finds a route.
      await producer.send({ topic, tag: 'TagC', body: 'not for us' });
      await waitForRoute(ns, topic);

      const received = [];
      let failedOnce = false;
      consumer.subscribe(topic, 'TagA || TagB', async (msgs) => {
        for (const m of msgs) {
          // The first delivery of 'retry-me' fails: it must come back.
          if (text(m.body) === 'retry-me' && !failedOnce) {
            failedOnce = true;
            // Retry with delay level 1 (1 s) instead of the broker's 3 + n.
            return { acked: 0, delayLevel: 1 };
          }
        }
        if (process.env.RMQ_TEST_TRACE) console.log(performance.now().toFixed(0), msgs.map((m) => `${text(m.body)}/${m.reconsumeTimes}`));
        received.push(...msgs);
        return ConsumeResult.Success;
      });
      await consumer.start();

      const sent = [];
      for (const [tag, body] of [
        ['TagA', 'Hello A'],
        ['TagB', 'Hello B'],
        ['TagC', 'filtered out'],
        ['TagA', 'retry-me'],
      ]) {
        const r = await producer.send({ topic, tag, keys: [`key-${sent.length}`, 'shared'], properties: { p: body }, body });
        assert.equal(r.status, 'SEND_OK');
        sent.push({ tag, body, msgId: r.msgId });
      }

      const expected = sent.filter((s) => s.tag !== 'TagC');
      await eventually(() => expected.every((s) => received.some((m) => m.msgId === s.msgId)), {
        timeoutMs: 60_000,
        what: `${expected.length} messages (got ${received.length})`,
      });
      for (const [i, s] of sent.entries()) {
        if (s.tag === 'TagC') continue;
        const m = received.find((r) => r.msgId === s.msgId);
        assert.equal(m.topic, topic);
        assert.equal(m.tags, s.tag);
        assert.equal(text(m.body), s.body);
        assert.deepEqual(m.keys, [`key-${i}`, 'shared']);
        assert.equal(m.properties.p, s.body);
      }
      assert.ok(failedOnce, 'the retried message was delivered once before');
      const retried = received.find((m) => text(m.body) === 'retry-me');
      assert.ok(retried.reconsumeTimes >= 1, `reconsumeTimes ${retried.reconsumeTimes}`);
      assert.ok(!received.some((m) => m.tags === 'TagC'), 'TagC is filtered out');
    } finally {
      await consumer.shutdown();
      await producer.shutdown();
    }
  });
}

test('shutdown() while a broadcasting start() loads its offsets leaves the consumer shut down', async () => {
  let loaded;
  const offsetStore = {
    load: () => new Promise((resolve) => (loaded = () => resolve(undefined))),
    save() {},
  };
  const c = new PushConsumer({
    nameServer: '127.0.0.1:1',
    group: unique('js_start_race'),
    model: 'broadcasting',
    offsetStore,
  });
  c.subscribe(unique('js_start_race_t'), '*', () => ConsumeResult.Success);
  const starting = c.start();
  await c.shutdown();
  loaded();
  try {
    await assert.rejects(starting, (e) => e instanceof RmqError && e.code === 'SHUT_DOWN');
    await assert.rejects(c.start(), (e) => e instanceof RmqError && e.code === 'SHUT_DOWN');
  } finally {
    await c.shutdown();
  }
});
