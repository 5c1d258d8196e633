// The lite pull consumer: assign a queue, seek, iterate with `for await`,
// commit; the committed offset is where the group resumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, LitePullConsumer, RmqError } from '../src/index.js';
import { BROKERS, nameServer, unique, pollUntil, text } from '../test-support/broker.js';

for (const { label, variable } of BROKERS) {
  test(`lite pull: assign, seek, for await, commit; a second consumer of the group resumes at the commit (broker ${label})`, { timeout: 20_000 }, async () => {
    const ns = nameServer(variable);
    const topic = unique('wasm_lite');
    const group = unique('wasm_cg_lite');
    const producer = new Producer({ nameServer: ns, group: unique('wasm_pg') });
    await producer.start();
    const options = { nameServer: ns, group, consumeFrom: 'first', autoCommit: false, pullSuspendMs: 2000 };
    const first = new LitePullConsumer(options);
    try {
      const r0 = await producer.send({ topic, body: 'm0' });
      const queue = r0.queue;
      const offsets = [r0.queueOffset];
      for (let i = 1; i < 10; i++) offsets.push((await producer.sendToQueue({ topic, body: `m${i}` }, queue)).queueOffset);

      first.assign([queue]);
      await first.start();
      await first.seek(queue, offsets[4]);
      const taken = [];
      for await (const m of first) {
        taken.push(text(m.body));
        if (taken.length === 3) break;
      }
      assert.deepEqual(taken, ['m4', 'm5', 'm6'], 'the loop starts at the sought offset');
      await first.commit();
      assert.equal(first.committedOffset(queue), offsets[7], 'the commit covers exactly what the loop took');
      assert.equal(await first.maxOffset(queue), offsets[9] + 1);
      assert.ok((await first.minOffset(queue)) <= offsets[0]);
      await first.shutdown(); // offsets go to the broker

      const second = new LitePullConsumer(options);
      second.assign([queue]);
      await second.start();
      try {
        const rest = await pollUntil(second, 3, 10_000);
        assert.deepEqual(rest.map((m) => text(m.body)), ['m7', 'm8', 'm9'], 'resumed at the committed offset');
        assert.deepEqual(rest.map((m) => m.queueOffset), offsets.slice(7));
      } finally {
        await second.shutdown();
      }
    } finally {
      await first.shutdown();
      await producer.shutdown();
    }
  });

  test(`lite pull: subscribe, poll with auto-commit, pause and resume (broker ${label})`, { timeout: 40_000 }, async () => {
    const ns = nameServer(variable);
    const topic = unique('wasm_lite_sub');
    const producer = new Producer({ nameServer: ns, group: unique('wasm_pg') });
    await producer.start();
    const c = new LitePullConsumer({ nameServer: ns, group: unique('wasm_cg_lite_sub'), consumeFrom: 'first', pullSuspendMs: 1000 });
    try {
      const r0 = await producer.send({ topic, tag: 'A', body: 'a0' });
      await producer.sendToQueue({ topic, tag: 'B', body: 'filtered' }, r0.queue);
      await producer.sendToQueue({ topic, tag: 'A', body: 'a1' }, r0.queue);
      c.subscribe(topic, 'A');
      await c.start();
      const got = await pollUntil(c, 2, 12_000);
      assert.deepEqual(got.map((m) => text(m.body)), ['a0', 'a1']);
      assert.ok(c.assignment().some((q) => q.queueId === r0.queue.queueId));

      c.pause([r0.queue]);
      // A long poll of the queue may still be held at the broker (up to its
      // 5 s check past the suspend); as Java's, it answers with what
      // arrives first: one message ends it.
      await producer.sendToQueue({ topic, tag: 'A', body: 'flush' }, r0.queue);
      // Wait for that answer as long as a held pull can take (the suspend,
      // the broker's 5 s hold check, a margin), not a fixed moment.
      const settled = [];
      const until = Date.now() + 1000 + 7000;
      while (settled.length === 0 && Date.now() < until) {
        settled.push(...(await c.poll(200)).map((m) => text(m.body)));
      }
      const flushed = settled.length === 1 && settled[0] === 'flush';
      assert.ok(flushed || settled.length === 0, `at most the in-flight pull's message: ${settled}`);
      await producer.sendToQueue({ topic, tag: 'A', body: 'while paused' }, r0.queue);
      assert.deepEqual(await c.poll(1500), [], 'a paused queue is not pulled');
      c.resume([r0.queue]);
      const rest = flushed ? ['while paused'] : ['flush', 'while paused'];
      const after = await pollUntil(c, rest.length, 8_000);
      assert.deepEqual(after.map((m) => text(m.body)), rest);
      // The auto-commit of the previous poll happens at the next one.
      await c.poll(0);
      assert.equal(c.committedOffset(r0.queue), after.at(-1).queueOffset + 1);
    } finally {
      await c.shutdown();
      await producer.shutdown();
    }
  });
}

test('lite pull: misuse fails with typed errors', async () => {
  const c = new LitePullConsumer({ nameServer: '127.0.0.1:1', group: 'g' });
  await assert.rejects(c.start(), (e) => e instanceof RmqError && e.code === 'CONFIG');
  await assert.rejects(c.poll(10), (e) => e.code === 'NOT_STARTED');
  assert.throws(() => c.assign([{ topic: 't' }]), (e) => e.code === 'INVALID_ARGUMENT');
  c.subscribe('t');
  assert.throws(() => c.assign([{ topic: 't', brokerName: 'b', queueId: 0 }]), (e) => e.code === 'CONFIG');
  await c.start();
  await assert.rejects(c.seek({ topic: 't', brokerName: 'b', queueId: 0 }, 0), (e) => e.code === 'CONFIG');
  await c.shutdown();
  await assert.rejects(c.poll(10), (e) => e.code === 'SHUT_DOWN');
});
