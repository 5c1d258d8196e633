// The browser test's page: produce three messages and consume them back
// through rmq-bridge, then check a Rust panic leaves the package usable.
// Parameters come in the query string; the outcome goes to
// window.__rmqResult (read by browser.test.js) and to the table.
import { Producer, PushConsumer, ConsumeResult } from '../src/index.js';
import { runtime } from '../src/platform.js';
import { __testPanic } from '../src/wasm.js';

const q = new URLSearchParams(location.search);
const nameServer = q.get('ns');
const bridge = q.get('bridge');
const token = q.get('token') ?? undefined;
const topic = q.get('topic');
const group = q.get('group');
const show = (id, text) => (document.getElementById(id).textContent = text);

async function withTimeout(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function run() {
  const started = performance.now();
  show('agent', `${runtime}: ${navigator.userAgent.match(/(Chrome|Chromium|HeadlessChrome)\/[0-9.]+/)?.[0] ?? navigator.userAgent}`);
  show('broker', `${q.get('label')} (name server ${nameServer})`);
  show('bridge', `${bridge}${token ? ' (with token)' : ''}`);
  show('topic', topic);

  // --- produce and consume (the README blocks themselves are run as written
  // by browser.test.js's readme tests) --------------------------------------
  const producer = new Producer({ nameServer, bridge, token, group: `${group}_pg` });
  await producer.start();
  const sent = [];
  for (const word of ['one', 'two', 'three']) {
    const r = await withTimeout(producer.send({ topic, tag: 'TagA', body: `${word} from the browser` }), 15_000, 'send');
    sent.push({ body: `${word} from the browser`, status: r.status, msgId: r.msgId });
  }
  show('sent', sent.map((s) => `${s.status} ${s.msgId} "${s.body}"`).join('\n'));

  const received = [];
  let done;
  const all = new Promise((resolve) => (done = resolve));
  const consumer = new PushConsumer({ nameServer, bridge, token, group: `${group}_cg`, consumeFrom: 'first' });
  consumer.subscribe(topic, 'TagA', async (messages) => {
    for (const m of messages) received.push(new TextDecoder().decode(m.body));
    if (received.length >= sent.length) done();
    return ConsumeResult.Success;
  });
  await consumer.start();
  await withTimeout(all, 40_000, 'three messages');
  await consumer.shutdown();
  await producer.shutdown();
  show('received', received.join('\n'));
  // ---------------------------------------------------------------------------

  // A panic traps the instance; a new client gets a fresh one at once.
  const error = __testPanic('deliberate panic in the browser test');
  const again = new Producer({ nameServer, bridge, token, group: `${group}_pg2` });
  await again.start();
  const r = await withTimeout(again.send({ topic, tag: 'TagB', body: 'after the panic' }), 15_000, 'send after panic');
  await again.shutdown();
  const panic = { code: error.code, message: error.message, sendAfter: r.status };
  show('panic', `${error.code}: ${error.panic.split('\n').pop()} → new client: ${r.status}`);

  const ms = Math.round(performance.now() - started);
  show('time', `${ms} ms`);
  return { ok: true, runtime, sent, received, panic, ms };
}

run().then(
  (result) => {
    window.__rmqResult = result;
    const s = document.getElementById('status');
    s.textContent = 'ok';
    s.className = 'ok';
  },
  (e) => {
    window.__rmqResult = { ok: false, error: `${e?.code ?? ''} ${e?.message ?? e}`, stack: e?.stack };
    const s = document.getElementById('status');
    s.textContent = `failed: ${e?.code ?? ''} ${e?.message ?? e}`;
    s.className = 'failed';
  },
);
