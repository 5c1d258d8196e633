// Transport selection and a user's transport (`{ open(addr) }`) in Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { Producer, PushConsumer, ConsumeResult, RmqError } from '../src/index.js';
import { runtime, selectTransport } from '../src/platform.js';
import { nameServer, unique, eventually, waitForRoute } from '../test-support/broker.js';

test('node picks node:net by default, a bridge or a transport when given', () => {
  assert.equal(runtime, 'node');
  assert.equal(selectTransport({}).name, 'node');
  assert.equal(selectTransport({ transport: { open() {} } }).name, 'custom');
});

test('unusable transport options fail start() with CONFIG', async () => {
  for (const bad of [
    { transport: {} },
    { bridge: 'http://127.0.0.1:1' },
    { bridge: 'not a url' },
    { token: 'secret' },
  ]) {
    const p = new Producer({ nameServer: '127.0.0.1:1', group: 'g', ...bad });
    await assert.rejects(p.start(), (e) => e instanceof RmqError && e.code === 'CONFIG', JSON.stringify(bad));
  }
});

test('a transport whose open() rejects fails the send with a typed error, not a hang', async () => {
  const opened = [];
  const transport = {
    open(addr) {
      opened.push(addr);
      return Promise.reject(new Error('no route to host (test)'));
    },
  };
  const p = new Producer({ nameServer: '127.0.0.1:9', group: 'g', sendTimeoutMs: 2000, transport });
  await p.start();
  try {
    await assert.rejects(p.send({ topic: 't', body: 'x' }), (e) => e instanceof RmqError);
    assert.ok(opened.includes('127.0.0.1:9'), `opened ${opened}`);
  } finally {
    await p.shutdown();
  }
});

/** A user transport over node:net: the web-streams duplex of a socket. */
function nodeStreamsTransport(log) {
  return {
    open(addr) {
      log.push(addr);
      const i = addr.lastIndexOf(':');
      return new Promise((resolve, reject) => {
        const socket = net.connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
        socket.once('error', reject);
        socket.once('connect', () => {
          socket.off('error', reject);
          resolve({ ...Duplex.toWeb(socket), close: () => socket.destroy() }); // as in the README
        });
      });
    },
  };
}

test('a user transport carries a produce and a consume against a real broker (5.x)', async () => {
  const ns = nameServer('RMQ_TEST_NAMESRV_V5');
  const topic = unique('js_transport');
  const log = [];
  const transport = nodeStreamsTransport(log);
  const p = new Producer({ nameServer: ns, group: unique('js_transport_pg'), transport });
  await p.start();
  const got = [];
  const c = new PushConsumer({ nameServer: ns, group: unique('js_transport_cg'), consumeFrom: 'first', transport });
  try {
    const r = await p.send({ topic, tag: 'T', body: 'through a user transport' });
    assert.equal(r.status, 'SEND_OK');
    await waitForRoute(ns, topic);
    c.subscribe(topic, '*', (msgs) => {
      for (const m of msgs) got.push(new TextDecoder().decode(m.body));
      return ConsumeResult.Success;
    });
    await c.start();
    await eventually(() => got.length >= 1, { timeoutMs: 30_000, what: 'the message' });
    assert.deepEqual(got, ['through a user transport']);
    assert.ok(log.includes(ns), `the name server was opened through the transport: ${log}`);
    assert.ok(log.some((a) => a !== ns), `a broker was opened through the transport: ${log}`);
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});
