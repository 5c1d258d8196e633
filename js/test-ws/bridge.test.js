// The npm package through the real rmq-bridge from Node, with the `ws`
// package's WebSocket class as the `webSocket` option — what Node 18/20
// users (no global WebSocket) have. Against both brokers: produce and
// consume through the bridge; a wrong token is refused with a typed error
// (not a hang); and without a global WebSocket and without `webSocket`,
// `bridge:` fails with the CONFIG error that names `webSocket` and `ws`.
// js/README.md's Node-through-the-bridge program (after
// `<!-- readme-test: node-ws -->`) runs as written, in a child node.
//
// Run (from js/test-ws, after `npm ci`):
//   RMQ_TEST_NAMESRV_V5=127.0.0.1:9876 RMQ_TEST_NAMESRV_V4=127.0.0.1:9886 node --test
// Needs the rmq-bridge binary ($RMQ_BRIDGE, else
// $CARGO_TARGET_DIR/debug/rmq-bridge, built when missing). Anything
// missing fails the test; nothing is skipped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { ConsumeResult, Producer, PushConsumer, RmqError } from '../src/index.js';
import { bridgeConnector } from '../src/transport-ws.js';
import { BROKERS, eventually, nameServer, text, unique, waitForRoute } from '../test-support/broker.js';
import { startBridge, stopBridge, within } from '../test-support/bridge.js';
import { blockAfter, substitute } from '../test-support/readme.js';

const here = dirname(fileURLToPath(import.meta.url));
const jsRoot = resolve(here, '..');

let bridge;
const token = randomBytes(16).toString('hex');

before(async () => {
  const nameServers = BROKERS.map((b) => nameServer(b.variable));
  // No origin: a program sends no Origin, the token is what admits it.
  bridge = await startBridge({ nameServers, token });
});

after(async () => {
  if (bridge) await stopBridge(bridge);
});

/**
 * Runs `fn` with `globalThis.WebSocket` absent (as on Node 18/20 without
 * --experimental-websocket), whatever this Node has, restoring it after.
 */
async function withoutGlobalWebSocket(fn) {
  const had = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
  if (had) delete globalThis.WebSocket;
  try {
    assert.equal(typeof globalThis.WebSocket, 'undefined');
    return await fn();
  } finally {
    if (had) Object.defineProperty(globalThis, 'WebSocket', had);
  }
}

/** Connections the `ws` class opened: counts how many a client made. */
function countingWebSocket(opened) {
  return class extends WebSocket {
    constructor(url, ...rest) {
      super(url, ...rest);
      opened.push(new URL(url).pathname);
    }
  };
}

for (const { label, variable } of BROKERS) {
  test(`produces and consumes through rmq-bridge with ws as webSocket, no global WebSocket (broker ${label})`, async () => {
    const ns = nameServer(variable);
    const topic = unique('ws_topic');
    const opened = [];
    await withoutGlobalWebSocket(async () => {
      const options = { nameServer: ns, bridge: bridge.url, token, webSocket: countingWebSocket(opened) };
      const producer = new Producer({ ...options, group: unique('ws_pg') });
      const consumer = new PushConsumer({ ...options, group: unique('ws_cg'), consumeFrom: 'first' });
      const received = [];
      try {
        await producer.start();
        const bodies = ['one', 'two', 'three'].map((b) => `${b} through ws (${label})`);
        const started = Date.now();
        const sent = [];
        for (const body of bodies) sent.push(await producer.send({ topic, tag: 'TagA', body }));
        assert.deepEqual(
          sent.map((r) => r.status),
          ['SEND_OK', 'SEND_OK', 'SEND_OK'],
        );
        await waitForRoute(ns, topic);
        consumer.subscribe(topic, 'TagA', (msgs) => {
          for (const m of msgs) received.push(text(m.body));
          return ConsumeResult.Success;
        });
        await consumer.start();
        await eventually(() => received.length >= bodies.length, {
          timeoutMs: 60_000,
          what: `3 messages consumed through the bridge (got ${received.length})`,
        });
        assert.deepEqual([...received].sort(), [...bodies].sort());
        console.log(`${label}: produced and consumed 3 messages through rmq-bridge with ws in ${Date.now() - started} ms`);
      } finally {
        await consumer.shutdown().catch(() => {});
        await producer.shutdown().catch(() => {});
      }
    });
    // Every connection went through the bridge: the name server and a broker.
    assert.ok(opened.includes(`/tcp/${ns}`), `a WebSocket to the name server: ${opened.join(', ')}`);
    assert.ok(opened.some((p) => p !== `/tcp/${ns}`), `a WebSocket to a broker: ${opened.join(', ')}`);
  });

  test(`a wrong token is refused with a typed error, not a hang (broker ${label})`, async () => {
    const ns = nameServer(variable);
    const started = Date.now();
    const p = new Producer({
      nameServer: ns,
      group: unique('ws_bad_pg'),
      bridge: bridge.url,
      token: `${token}-wrong`,
      webSocket: WebSocket,
      sendTimeoutMs: 3000,
    });
    await p.start();
    try {
      const outcome = await within(20_000, 'the send with a wrong token to settle', () =>
        p.send({ topic: unique('ws_bad_topic'), body: 'never' }).then(
          (r) => ({ sent: r }),
          (e) => ({ error: e }),
        ),
      );
      assert.ok(outcome.error instanceof RmqError, `a typed error, got ${JSON.stringify(outcome.sent ?? String(outcome.error))}`);
      assert.match(outcome.error.message, /401/, 'the refusal (401) is in the error');
      console.log(`${label}: a wrong token: ${outcome.error.code} after ${Date.now() - started} ms: ${outcome.error.message}`);
    } finally {
      await p.shutdown();
    }
    await eventually(() => /401|token/i.test(bridge.log()), {
      timeoutMs: 5000,
      what: `the bridge to log the refusal:\n${bridge.log()}`,
    });
  });

  test(`a 3 MiB message crosses the bridge both ways with ws (broker ${label})`, async () => {
    const ns = nameServer(variable);
    const topic = unique('ws_big_topic');
    let maxBuffered = 0;
    const Measuring = class extends WebSocket {
      send(data, ...rest) {
        super.send(data, ...rest);
        maxBuffered = Math.max(maxBuffered, this.bufferedAmount);
      }
    };
    const options = { nameServer: ns, bridge: bridge.url, token, webSocket: Measuring };
    const producer = new Producer({ ...options, group: unique('ws_big_pg') });
    const consumer = new PushConsumer({ ...options, group: unique('ws_big_cg'), consumeFrom: 'first' });
    const body = randomBytes(3 << 20);
    const received = [];
    try {
      await producer.start();
      const started = Date.now();
      const r = await producer.send({ topic, body }, { timeoutMs: 20_000 });
      assert.equal(r.status, 'SEND_OK');
      await waitForRoute(ns, topic);
      consumer.subscribe(topic, '*', (msgs) => {
        for (const m of msgs) received.push(m.body);
        return ConsumeResult.Success;
      });
      await consumer.start();
      await eventually(() => received.length >= 1, { timeoutMs: 60_000, what: 'the 3 MiB message consumed' });
      assert.equal(received.length, 1);
      assert.ok(Buffer.from(received[0]).equals(body), 'the body came back byte for byte');
      console.log(
        `${label}: 3 MiB sent and consumed through rmq-bridge with ws in ${Date.now() - started} ms ` +
          `(largest bufferedAmount after a send: ${maxBuffered} bytes)`,
      );
    } finally {
      await consumer.shutdown().catch(() => {});
      await producer.shutdown().catch(() => {});
    }
  });

  test(`js/README.md's Node program through the bridge runs as written (broker ${label})`, () => {
    const block = blockAfter(readFileSync(join(jsRoot, 'README.md'), 'utf8'), '<!-- readme-test: node-ws -->', {
      name: 'js/README.md',
    });
    const names = ['node_ws_topic', 'node_ws_pg', 'node_ws_cg'];
    const code = substitute(block, {
      "'127.0.0.1:9876'": `'${nameServer(variable)}'`,
      "'ws://127.0.0.1:8080'": `'${bridge.url}'`,
      "'change-me'": `'${token}'`,
      // 'rmq' by name resolves inside the package only; here it is ../src.
      "from 'rmq'": `from '${pathToFileURL(join(jsRoot, 'src', 'index.js')).href}'`,
      ...Object.fromEntries(names.map((n) => [`'${n}'`, `'${unique(n)}'`])),
    });
    // Beside node_modules/ws, so `import WebSocket from 'ws'` resolves.
    const file = join(here, `.readme-example-${process.pid}-${label}.mjs`);
    writeFileSync(file, code);
    try {
      // --no-experimental-websocket: no global WebSocket on any Node.
      const noGlobal = Number(process.versions.node.split('.')[0]) >= 22 ? ['--no-experimental-websocket'] : [];
      const run = spawnSync(process.execPath, [...noGlobal, file], { cwd: here, encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, `exit ${run.status} ${run.signal ?? ''}\n${code}\n${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /^SEND_OK [0-9A-F]{32}$/m);
      assert.match(run.stdout, /^one through the bridge$/m);
    } finally {
      rmSync(file, { force: true });
    }
  });

  test(`without a global WebSocket and without webSocket, bridge fails with CONFIG naming ws (broker ${label})`, async () => {
    await withoutGlobalWebSocket(async () => {
      const p = new Producer({ nameServer: nameServer(variable), group: unique('ws_none_pg'), bridge: bridge.url, token });
      await assert.rejects(p.start(), (e) => {
        assert.ok(e instanceof RmqError, String(e));
        assert.equal(e.code, 'CONFIG');
        assert.match(e.message, /webSocket/);
        assert.match(e.message, /\bws\b/);
        return true;
      });
    });
  });
}

test('a webSocket that is not a constructor fails start() with CONFIG', async () => {
  for (const webSocket of ['ws', 42, {}, () => WebSocket, null]) {
    const p = new Producer({ nameServer: '127.0.0.1:1', group: 'g', bridge: bridge.url, webSocket });
    await assert.rejects(
      p.start(),
      (e) => e instanceof RmqError && e.code === 'CONFIG' && /webSocket/.test(e.message),
      String(webSocket),
    );
  }
});

test('webSocket without bridge fails start() with CONFIG', async () => {
  const p = new Producer({ nameServer: '127.0.0.1:1', group: 'g', webSocket: WebSocket });
  await assert.rejects(p.start(), (e) => e instanceof RmqError && e.code === 'CONFIG' && /bridge/.test(e.message));
});

test('a connection closed while its ws WebSocket is still in the handshake raises no uncaught error', async () => {
  // ws's close() during the handshake emits 'error' (an EventEmitter's
  // 'error' with no listener throws out of the event loop): the transport
  // keeps a no-op onerror on the sockets it lets go.
  const uncaught = [];
  const onUncaught = (e) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    const sockets = [];
    const Recording = class extends WebSocket {
      constructor(...args) {
        super(...args);
        sockets.push(this);
      }
    };
    const events = [];
    const connect = bridgeConnector(bridge.url, token, Recording);
    const link = connect(nameServer(BROKERS[0].variable), {
      onOpen: () => events.push('open'),
      onData: () => events.push('data'),
      onDrain: () => events.push('drain'),
      onClose: (reason) => events.push(`close: ${reason}`),
    });
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0].readyState, WebSocket.CONNECTING);
    link.close();
    await eventually(() => sockets[0].readyState === WebSocket.CLOSED, { timeoutMs: 5000, what: 'the WebSocket to close' });
    await new Promise((r) => setTimeout(r, 200)); // any late event lands
    assert.deepEqual(uncaught, []);
    assert.deepEqual(events, [], 'the client closed it: no events after');
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
