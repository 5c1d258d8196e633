// Push consumer modes: orderly (per-key order through concurrent handlers)
// and broadcasting (every member gets every message; offsets in a store).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, PushConsumer, ConsumeResult } from '../src/index.js';
import { BROKERS, nameServer, unique, eventually, waitForRoute, text } from '../test-support/broker.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const { label, variable } of BROKERS) {
  test(`an orderly push consumer gets each sharding key's messages in the order sent (broker ${label})`, { timeout: 20_000 }, async () => {
    const ns = nameServer(variable);
    const topic = unique('wasm_orderly');
    const producer = new Producer({ nameServer: ns, group: unique('wasm_pg') });
    await producer.start();
    const consumer = new PushConsumer({
      nameServer: ns,
      group: unique('wasm_cg_orderly'),
      consumeFrom: 'first',
      orderly: true,
      concurrency: 8,
    });
    try {
      const keys = ['order-1', 'order-2', 'order-3'];
      for (let i = 0; i < 8; i++) {
        for (const key of keys) {
          await producer.sendOrdered({ topic, tag: 'O', keys: [key], body: `${key}:${i}` }, key);
        }
      }
      await waitForRoute(ns, topic);
      const seen = new Map(keys.map((k) => [k, []]));
      consumer.subscribe(topic, 'O', async (msgs) => {
        // Slow, uneven handlers: a concurrent consumer would reorder.
        await sleep(Math.floor(Math.random() * 15));
        for (const m of msgs) {
          const [key, i] = text(m.body).split(':');
          seen.get(key).push(Number(i));
        }
        return ConsumeResult.Success;
      });
      await consumer.start();
      await eventually(() => [...seen.values()].every((s) => s.length >= 8), {
        timeoutMs: 15_000,
        what: `24 ordered messages (got ${[...seen.values()].map((s) => s.length)})`,
      });
      for (const key of keys) assert.deepEqual(seen.get(key), [0, 1, 2, 3, 4, 5, 6, 7], key);
    } finally {
      await consumer.shutdown();
      await producer.shutdown();
    }
  });

  test(`broadcasting: two consumers of one group each get every message, and offsets resume from the store (broker ${label})`, { timeout: 20_000 }, async () => {
    const ns = nameServer(variable);
    const topic = unique('wasm_broadcast');
    const group = unique('wasm_cg_bc');
    const producer = new Producer({ nameServer: ns, group: unique('wasm_pg') });
    await producer.start();
    // A store that records what it was given (a Map, as MemoryOffsetStore).
    const saved = new Map();
    const store = { load: (key) => saved.get(key), save: (key, bytes) => void saved.set(key, bytes) };
    const member = (instanceName, log) => {
      const c = new PushConsumer({
        nameServer: ns,
        group,
        instanceName,
        model: 'broadcasting',
        consumeFrom: 'first',
        offsetStore: store,
        persistIntervalMs: 500,
      });
      c.subscribe(topic, '*', (msgs) => {
        log.push(...msgs);
        return ConsumeResult.Success;
      });
      return c;
    };
    const gotA = [];
    const gotB = [];
    const a = member('bcA', gotA);
    const b = member('bcB', gotB);
    try {
      // One queue, so "nothing old comes back" below is ordered.
      const first = await producer.send({ topic, body: 'b0' });
      const queue = first.queue;
      await waitForRoute(ns, topic);
      await a.start();
      await b.start();
      const sent = [first.msgId];
      for (let i = 1; i < 5; i++) sent.push((await producer.sendToQueue({ topic, body: `b${i}` }, queue)).msgId);
      const has = (log, ids) => ids.every((id) => log.some((m) => m.msgId === id));
      await eventually(() => has(gotA, sent) && has(gotB, sent), {
        timeoutMs: 12_000,
        what: `5 messages on each member (a ${gotA.length}, b ${gotB.length})`,
      });
      assert.equal(new Set(gotA.map((m) => m.msgId)).size, 5);
      assert.equal(new Set(gotB.map((m) => m.msgId)).size, 5);

      await a.shutdown();
      const keyA = [...saved.keys()].find((k) => k.endsWith(`@bcA/${group}`));
      assert.ok(keyA, `a snapshot was saved under <clientId>/<group>: ${[...saved.keys()]}`);
      assert.match(text(saved.get(keyA)), new RegExp(topic));

      // Two more while A is down; A, restarted, resumes after what it consumed.
      const later = [];
      for (let i = 5; i < 7; i++) later.push((await producer.sendToQueue({ topic, body: `b${i}` }, queue)).msgId);
      const gotA2 = [];
      const a2 = member('bcA', gotA2);
      await a2.start();
      try {
        await eventually(() => has(gotA2, later), { timeoutMs: 10_000, what: `the 2 later messages (got ${gotA2.length})` });
        assert.deepEqual(gotA2.map((m) => m.msgId), later, 'nothing consumed before the restart comes back');
      } finally {
        await a2.shutdown();
      }
    } finally {
      await a.shutdown();
      await b.shutdown();
      await producer.shutdown();
    }
  });
}
