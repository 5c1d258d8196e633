// Send kinds beyond the plain send: a batch, a send to a chosen queue.
// What was sent is read back with a lite pull consumer on that queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, LitePullConsumer } from '../src/index.js';
import { BROKERS, nameServer, unique, pollUntil, text } from '../test-support/broker.js';

/** Reads `n` messages of `queue` from `offset` with a fresh lite pull consumer. */
async function readBack(ns, queue, offset, n) {
  const c = new LitePullConsumer({ nameServer: ns, group: unique('wasm_cg_read'), autoCommit: false, pullSuspendMs: 2000 });
  c.assign([queue]);
  await c.start();
  try {
    await c.seek(queue, offset);
    return await pollUntil(c, n, 10_000);
  } finally {
    await c.shutdown();
  }
}

for (const { label, variable } of BROKERS) {
  test(`a batch is stored in order on one queue, each message with its tag, keys and properties (broker ${label})`, { timeout: 20_000 }, async () => {
    const ns = nameServer(variable);
    const topic = unique('wasm_batch');
    const producer = new Producer({ nameServer: ns, group: unique('wasm_pg') });
    await producer.start();
    try {
      const messages = Array.from({ length: 5 }, (_, i) => ({
        topic,
        tag: `T${i}`,
        keys: [`batch-${i}`],
        properties: { index: String(i) },
        body: `batch ${i} ünïcödé`,
      }));
      const r = await producer.sendBatch(messages);
      assert.equal(r.status, 'SEND_OK');
      assert.equal(r.msgIds.length, 5);
      assert.equal(new Set(r.msgIds).size, 5);
      assert.equal(r.offsetMsgId.split(',').length, 5);

      const got = await readBack(ns, r.queue, r.queueOffset, 5);
      assert.deepEqual(got.map((m) => m.queueOffset), [0, 1, 2, 3, 4].map((i) => r.queueOffset + i));
      for (const [i, m] of got.entries()) {
        assert.equal(m.msgId, r.msgIds[i]);
        assert.equal(m.tags, `T${i}`);
        assert.deepEqual(m.keys, [`batch-${i}`]);
        assert.equal(m.properties.index, String(i));
        assert.equal(text(m.body), `batch ${i} ünïcödé`);
      }
      await assert.rejects(producer.sendBatch([]), (e) => e.code === 'INVALID_ARGUMENT');
      await assert.rejects(
        producer.sendBatch([{ topic, body: 'a' }, { topic: `${topic}_other`, body: 'b' }]),
        (e) => e.code === 'INVALID_MESSAGE',
      );
    } finally {
      await producer.shutdown();
    }
  });

  test(`sendToQueue puts every message on the chosen queue (broker ${label})`, { timeout: 20_000 }, async () => {
    const ns = nameServer(variable);
    const topic = unique('wasm_to_queue');
    const producer = new Producer({ nameServer: ns, group: unique('wasm_pg') });
    await producer.start();
    try {
      const first = await producer.send({ topic, body: 'creates the topic' });
      // Not the queue round robin picked first.
      const queue = { ...first.queue, queueId: first.queue.queueId === 0 ? 1 : 0 };
      const results = [];
      for (let i = 0; i < 6; i++) results.push(await producer.sendToQueue({ topic, tag: 'Q', body: `q${i}` }, queue));
      for (const r of results) {
        assert.equal(r.status, 'SEND_OK');
        assert.deepEqual(r.queue, queue);
      }
      for (let i = 1; i < results.length; i++) assert.equal(results[i].queueOffset, results[i - 1].queueOffset + 1);

      const got = await readBack(ns, queue, results[0].queueOffset, 6);
      assert.deepEqual(got.map((m) => text(m.body)), ['q0', 'q1', 'q2', 'q3', 'q4', 'q5']);
      assert.ok(got.every((m) => m.queueId === queue.queueId));
      await assert.rejects(producer.sendToQueue({ topic, body: 'x' }, null), (e) => e.code === 'INVALID_ARGUMENT');
    } finally {
      await producer.shutdown();
    }
  });
}
