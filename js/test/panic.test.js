// A Rust panic traps the WebAssembly instance: it must come out as a
// rejected promise (RmqError INTERNAL), never as a dead package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, PushConsumer, LitePullConsumer, ConsumeResult, RmqError } from '../src/index.js';
import { __testPanic, liveInstance, ready } from '../src/wasm.js';
import { nameServer, unique } from '../test-support/broker.js';

test('a panic rejects every pending call of the trapped instance and new clients get a fresh one', async () => {
  const ns = nameServer('RMQ_TEST_NAMESRV_V5');
  const topic = unique('js_panic');
  const before = liveInstance().id;
  const a = new Producer({ nameServer: ns, group: unique('js_panic_a') });
  const b = new Producer({ nameServer: ns, group: unique('js_panic_b') });
  await a.start();
  await b.start();
  // Pending (the route lookup needs the network) when the instance traps.
  const pendingA = a.send({ topic, body: 'never sent' });
  const pendingB = b.send({ topic, body: 'never sent either' });
  const error = __testPanic('deliberate panic from panic.test.js');
  assert.ok(error instanceof RmqError);
  assert.equal(error.code, 'INTERNAL');
  assert.match(error.message, /deliberate panic from panic\.test\.js/);
  for (const pending of [pendingA, pendingB]) {
    await assert.rejects(pending, (e) => e === error);
  }
  // The dead clients refuse further calls with a typed error.
  await assert.rejects(a.send({ topic, body: 'x' }), (e) => e instanceof RmqError);
  // Shutting a dead client down is a no-op that succeeds.
  await b.shutdown();

  // A client made now lives in a new instance of the cached module.
  const c = new Producer({ nameServer: ns, group: unique('js_panic_c') });
  await c.start();
  try {
    assert.ok(liveInstance().id > before, 'a fresh instance');
    const r = await c.send({ topic, body: 'after the panic' });
    assert.equal(r.status, 'SEND_OK');
  } finally {
    await c.shutdown();
  }
});

test('two panics in a row: the package recovers after the second as well', async () => {
  await ready();
  __testPanic('first');
  const second = __testPanic('second');
  assert.equal(second.code, 'INTERNAL');
  assert.match(second.message, /second/);
  await ready();
  const p = new Producer({ nameServer: '127.0.0.1:1', group: unique('js_panic_d') });
  await p.start();
  await p.shutdown();
});

test('shutdown() resolves on a producer, a push consumer and a lite pull consumer whose instance trapped', async () => {
  const ns = nameServer('RMQ_TEST_NAMESRV_V5');
  await ready();
  const topic = unique('js_panic_shutdown');
  const producer = new Producer({ nameServer: ns, group: unique('js_panic_pg') });
  const push = new PushConsumer({ nameServer: ns, group: unique('js_panic_cg') });
  push.subscribe(topic, '*', () => ConsumeResult.Success);
  const lite = new LitePullConsumer({ nameServer: ns, group: unique('js_panic_lp') });
  lite.subscribe(topic, '*');
  const clients = [producer, push, lite];
  for (const c of clients) await c.start();
  // A call still waiting on the network when the instance traps.
  const pending = producer.send({ topic, body: 'never sent' });
  const error = __testPanic('panic before shutdown');
  await assert.rejects(pending, (e) => e === error);
  // Every client is dead: shutdown resolves (twice, too), it never rejects.
  for (const c of clients) {
    await c.shutdown();
    await c.shutdown();
  }
  // Shut down: further calls reject with a typed error.
  await assert.rejects(producer.send({ topic, body: 'x' }), (e) => e instanceof RmqError && e.code === 'SHUT_DOWN');
  await assert.rejects(lite.poll(10), (e) => e instanceof RmqError && e.code === 'SHUT_DOWN');
  await assert.rejects(producer.start(), (e) => e instanceof RmqError && e.code === 'SHUT_DOWN');
});

test('a shutdown still waiting on the broker when the instance traps resolves', async () => {
  const ns = nameServer('RMQ_TEST_NAMESRV_V5');
  await ready();
  const topic = unique('js_panic_midshutdown');
  const producer = new Producer({ nameServer: ns, group: unique('js_panic_mid_pg') });
  await producer.start();
  await producer.send({ topic, body: 'connects to the broker' });
  const push = new PushConsumer({ nameServer: ns, group: unique('js_panic_mid_cg') });
  push.subscribe(topic, '*', () => ConsumeResult.Success);
  await push.start();
  // Unregistering takes a round trip to the broker: both are pending.
  const settled = [];
  const shutdowns = [producer, push].map((c, i) => c.shutdown().finally(() => settled.push(i)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(settled, [], 'the shutdowns wait for the broker');
  __testPanic('panic during shutdown');
  await Promise.all(shutdowns);
});

test("a lite pull consumer's for-await loop ends with a typed error once its instance traps", async () => {
  await ready();
  const lite = new LitePullConsumer({ nameServer: '127.0.0.1:1', group: unique('js_panic_iter') });
  lite.subscribe(unique('js_panic_iter_t'), '*');
  await lite.start();
  try {
    const loop = (async () => {
      for await (const m of lite) void m;
      return 'ended';
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    __testPanic('panic under a for-await loop');
    let timer;
    const outcome = await Promise.race([
      loop.catch((e) => e),
      new Promise((resolve) => (timer = setTimeout(() => resolve('still waiting after 5 s'), 5000))),
    ]);
    clearTimeout(timer);
    assert.ok(outcome instanceof RmqError, `the loop: ${outcome}`);
    assert.equal(outcome.code, 'SHUT_DOWN');
  } finally {
    await lite.shutdown();
  }
});

test("a lite pull consumer's waiting poll() rejects with SHUT_DOWN as soon as its instance traps", async () => {
  await ready();
  const lite = new LitePullConsumer({ nameServer: '127.0.0.1:1', group: unique('js_panic_poll') });
  lite.subscribe(unique('js_panic_poll_t'), '*');
  await lite.start();
  try {
    const started = Date.now();
    const poll = lite.poll(30_000).then(
      (msgs) => `resolved with ${msgs.length} messages`,
      (e) => e,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    __testPanic('panic under a waiting poll');
    let timer;
    const outcome = await Promise.race([
      poll,
      new Promise((resolve) => (timer = setTimeout(() => resolve('still waiting after 5 s'), 5000))),
    ]);
    clearTimeout(timer);
    assert.ok(outcome instanceof RmqError, `the poll: ${outcome}`);
    assert.equal(outcome.code, 'SHUT_DOWN');
    assert.ok(Date.now() - started < 5000, 'woken at once, not at its timeout');
  } finally {
    await lite.shutdown();
  }
});

test('a consumeFrom that is no Unix ms time is INVALID_ARGUMENT at start, not timestamp 0 or a trap', async () => {
  await ready();
  const before = liveInstance().id;
  for (const consumeFrom of [NaN, Infinity, -1, 1.5]) {
    const lite = new LitePullConsumer({ nameServer: '127.0.0.1:1', group: unique('js_bad_from'), consumeFrom });
    lite.subscribe(unique('js_bad_from_t'), '*');
    await assert.rejects(
      lite.start(),
      (e) => e instanceof RmqError && e.code === 'INVALID_ARGUMENT' && /consumeFrom/.test(e.message),
      `consumeFrom: ${consumeFrom}`,
    );
    await lite.shutdown();
  }
  assert.equal(liveInstance().id, before, 'no trap');
});
