import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { Producer, RmqError } from '../src/index.js';
import { BROKERS, nameServer, unique } from '../test-support/broker.js';

for (const { label, variable } of BROKERS) {
  test(`producer sends with tag, keys and properties (broker ${label})`, async () => {
    const producer = new Producer({ nameServer: nameServer(variable), group: unique('wasm_pg') });
    await producer.start();
    try {
      const topic = unique('wasm_send');
      const result = await producer.send({
        topic,
        tag: 'TagA',
        keys: ['k1', 'k2'],
        properties: { orderId: '42', source: 'node' },
        body: 'Hello',
      });
      assert.equal(result.status, 'SEND_OK');
      assert.match(result.msgId, /^[0-9A-F]{32}$/);
      assert.match(result.offsetMsgId, /^[0-9A-F]{32}$/);
      assert.equal(result.queue.topic, topic);
      assert.equal(typeof result.queue.brokerName, 'string');
      assert.ok(Number.isInteger(result.queue.queueId));
      assert.ok(result.queueOffset >= 0);

      // One sharding key, one queue.
      const ordered = [];
      for (let i = 0; i < 4; i++) ordered.push(await producer.sendOrdered({ topic, body: `o${i}` }, 'order-7'));
      assert.equal(new Set(ordered.map((r) => `${r.queue.brokerName}/${r.queue.queueId}`)).size, 1);
      for (let i = 1; i < 4; i++) assert.ok(ordered[i].queueOffset > ordered[i - 1].queueOffset);

      // A binary body, and a second send on the now-known route.
      const again = await producer.send({ topic, body: new Uint8Array([0, 1, 2, 255]) });
      assert.equal(again.status, 'SEND_OK');
      assert.notEqual(again.msgId, result.msgId);
    } finally {
      await producer.shutdown();
    }
  });

  test(`concurrent sends all complete (broker ${label})`, async () => {
    const producer = new Producer({ nameServer: nameServer(variable), group: unique('wasm_pg') });
    await producer.start();
    try {
      const topic = unique('wasm_many');
      await producer.send({ topic, body: 'first' }); // creates the topic
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => producer.send({ topic, tag: 'T', body: `m${i}` })),
      );
      assert.equal(results.length, 50);
      for (const r of results) assert.equal(r.status, 'SEND_OK');
      assert.equal(new Set(results.map((r) => r.msgId)).size, 50);
    } finally {
      await producer.shutdown();
    }
  });
}

test('large concurrent sends (24 x 512 KiB, incompressible) all complete', async () => {
  const producer = new Producer({
    nameServer: nameServer('RMQ_TEST_NAMESRV_V5'),
    group: unique('wasm_pg'),
    sendTimeoutMs: 15_000,
  });
  await producer.start();
  try {
    const topic = unique('wasm_big');
    await producer.send({ topic, body: 'first' });
    // 12 MiB at once: Node may buffer it (socket.write returning false feeds the core's writeBlocked).
    const bodies = Array.from({ length: 24 }, () => randomBytes(512 * 1024));
    const results = await Promise.all(bodies.map((body) => producer.send({ topic, body })));
    for (const r of results) assert.equal(r.status, 'SEND_OK');
  } finally {
    await producer.shutdown();
  }
});

test('a message the core rejects fails its promise with an RmqError code', async () => {
  const producer = new Producer({ nameServer: nameServer('RMQ_TEST_NAMESRV_V5'), group: unique('wasm_pg') });
  await producer.start();
  try {
    await assert.rejects(producer.send({ topic: 'bad topic!', body: 'x' }), (e) => {
      assert.ok(e instanceof RmqError);
      assert.ok(e instanceof Error);
      assert.equal(e.code, 'INVALID_MESSAGE');
      return true;
    });
    await assert.rejects(producer.send({ topic: 'ok_topic' }), (e) => e.code === 'INVALID_MESSAGE');
    await assert.rejects(producer.send({ body: 'no topic' }), (e) => e.code === 'INVALID_ARGUMENT');
    await assert.rejects(
      producer.send({ topic: 't', body: 'x', properties: { a: 1 } }),
      (e) => e.code === 'INVALID_ARGUMENT',
    );
  } finally {
    await producer.shutdown();
  }
});
