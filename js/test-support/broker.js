// Shared by the broker tests: name servers from the environment (a missing
// variable fails the test, it never skips), unique names, waiting.
import assert from 'node:assert/strict';

export const BROKERS = [
  { label: '5.5.0', variable: 'RMQ_TEST_NAMESRV_V5' },
  { label: '4.9.7', variable: 'RMQ_TEST_NAMESRV_V4' },
];

export function nameServer(variable) {
  const value = process.env[variable];
  assert.ok(
    value && value.trim() !== '',
    `${variable} is not set: point it at a RocketMQ name server (e.g. ${variable}=127.0.0.1:9876)`,
  );
  return value;
}

let counter = 0;
export function unique(prefix) {
  counter += 1;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}

export async function eventually(check, { timeoutMs = 30_000, stepMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * Waits (up to ~10 s) until the name server at `ns` serves a route for
 * `topic` — a broker registers an auto-created topic asynchronously, and
 * a consumer that asks before then retries only at its next rebalance.
 * Speaks the remoting protocol directly (JSON header, GET_ROUTEINFO_BY_TOPIC).
 */
export async function waitForRoute(ns, topic, timeoutMs = 10_000) {
  const net = await import('node:net');
  const [host, port] = [ns.slice(0, ns.lastIndexOf(':')), Number(ns.slice(ns.lastIndexOf(':') + 1))];
  const ask = () =>
    new Promise((resolve) => {
      const header = Buffer.from(
        JSON.stringify({ code: 105, language: 'JAVA', version: 401, opaque: 1, flag: 0, extFields: { topic } }),
      );
      const frame = Buffer.alloc(8 + header.length);
      frame.writeInt32BE(4 + header.length, 0);
      frame.writeInt32BE(header.length, 4); // serialize type 0 (JSON) in the top byte
      header.copy(frame, 8);
      let data = Buffer.alloc(0);
      const s = net.connect({ host, port }, () => s.write(frame));
      s.setTimeout(3000, () => s.destroy());
      s.on('data', (chunk) => {
        data = Buffer.concat([data, chunk]);
        if (data.length >= 8 && data.length >= 4 + data.readInt32BE(0)) {
          const hlen = data.readInt32BE(4) & 0xffffff;
          const code = JSON.parse(data.subarray(8, 8 + hlen).toString()).code;
          s.destroy();
          resolve(code === 0);
        }
      });
      s.on('error', () => resolve(false));
      s.on('close', () => resolve(false));
    });
  await eventually(ask, { timeoutMs, stepMs: 100, what: `the name server to serve topic ${topic}` });
}

/** A body as text (UTF-8). */
export const text = (bytes) => new TextDecoder().decode(bytes);

/** Polls a LitePullConsumer until `n` messages came or `limitMs` passed. */
export async function pollUntil(consumer, n, limitMs) {
  const deadline = Date.now() + limitMs;
  const out = [];
  while (out.length < n && Date.now() < deadline) out.push(...(await consumer.poll(500)));
  return out;
}
