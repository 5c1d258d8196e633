// Behaviour that needs no broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, PushConsumer, ConsumeResult, RmqError } from '../src/index.js';

test('send before start and after shutdown reject with NOT_STARTED / SHUT_DOWN', async () => {
  const p = new Producer({ nameServer: '127.0.0.1:1', group: 'g' });
  await assert.rejects(p.send({ topic: 't', body: 'x' }), (e) => e instanceof RmqError && e.code === 'NOT_STARTED');
  await p.start();
  await p.shutdown();
  await assert.rejects(p.send({ topic: 't', body: 'x' }), (e) => e.code === 'SHUT_DOWN');
});

test('bad options throw RmqErrors with a code', () => {
  assert.throws(() => new Producer({ group: 'g', nameServer: ' ; ' }), (e) => e.code === 'CONFIG');
  assert.throws(() => new Producer({ nameServer: 'a:1' }), (e) => e.code === 'CONFIG');
  const p = new Producer({ nameServer: 'a:1', group: 'bad group' });
  return assert.rejects(p.start(), (e) => e.code === 'CONFIG');
});

test('an unreachable name server fails the send with a typed error, not a hang', async () => {
  const p = new Producer({ nameServer: '127.0.0.1:1', group: 'g', sendTimeoutMs: 2000 });
  await p.start();
  try {
    await assert.rejects(p.send({ topic: 't', body: 'x' }), (e) => {
      assert.ok(e instanceof RmqError);
      assert.ok(['NO_ROUTE', 'CONNECTION', 'TIMEOUT'].includes(e.code), e.code);
      return true;
    });
  } finally {
    await p.shutdown();
  }
});

test('a consumer needs a subscription', async () => {
  const c = new PushConsumer({ nameServer: '127.0.0.1:1', group: 'g' });
  await assert.rejects(c.start(), (e) => e.code === 'CONFIG');
  assert.equal(ConsumeResult.Success, 'success');
});
