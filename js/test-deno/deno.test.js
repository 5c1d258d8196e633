// The npm package under Deno: TCP through Deno.connect (chosen
// automatically), producing and consuming against real brokers.
// Run: deno test --allow-net --allow-read --allow-env --allow-sys --allow-run --allow-write deno.test.js
// (cargo xtask test runs it with the npm `deno` binary of this directory).
import assert from 'node:assert/strict';
import { Producer, PushConsumer, ConsumeResult } from '../src/index.js';
import { runtime, selectTransport } from '../src/platform.js';
import { BROKERS, nameServer, unique, eventually, waitForRoute } from '../test-support/broker.js';
import { blockAfter, substitute } from '../test-support/readme.js';

// Every connection the package opens goes through this spy.
const opened = [];
const denoConnect = Deno.connect;
Deno.connect = (options) => {
  opened.push(`${options.hostname}:${options.port}`);
  return denoConnect(options);
};

Deno.test('Deno picks Deno.connect by default', () => {
  assert.equal(runtime, 'deno');
  assert.equal(selectTransport({}).name, 'deno');
});

for (const { label, variable } of BROKERS) {
  Deno.test(`produce and consume over Deno.connect (broker ${label})`, async () => {
    const ns = nameServer(variable);
    const topic = unique('deno_topic');
    const sent = ['one', 'two', 'three'].map((w) => `${w} from Deno`);
    const before = opened.length;
    const p = new Producer({ nameServer: ns, group: unique('deno_pg') });
    await p.start();
    const got = [];
    const c = new PushConsumer({ nameServer: ns, group: unique('deno_cg'), consumeFrom: 'first' });
    try {
      for (const body of sent) {
        const r = await p.send({ topic, tag: 'TagA', keys: ['k'], body });
        assert.equal(r.status, 'SEND_OK');
      }
      await waitForRoute(ns, topic);
      c.subscribe(topic, 'TagA', (msgs) => {
        for (const m of msgs) got.push(new TextDecoder().decode(m.body));
        return ConsumeResult.Success;
      });
      await c.start();
      await eventually(() => got.length >= sent.length, { timeoutMs: 30_000, what: 'three messages' });
      assert.deepEqual([...got].sort(), [...sent].sort());
      const mine = opened.slice(before);
      assert.ok(mine.includes(ns), `the name server was reached with Deno.connect: ${mine}`);
      assert.ok(mine.some((a) => a !== ns), `a broker was reached with Deno.connect: ${mine}`);
    } finally {
      await c.shutdown();
      await p.shutdown();
    }
  });
}

// The repository README's Deno block, run as written under `deno run`:
// only `npm:rmq` points at this checkout's package, and the topic and
// group names are made unique.
for (const { label, variable } of BROKERS) {
  Deno.test(`the README's Deno example runs as written (broker ${label})`, async () => {
    const here = new URL('.', import.meta.url);
    const readme = await Deno.readTextFile(new URL('../../README.md', here));
    const names = ['readme_deno_pg', 'readme_deno_topic'];
    const code = substitute(blockAfter(readme, '<!-- readme-test: deno -->'), {
      "'npm:rmq'": `'${new URL('../src/index.js', here).href}'`,
      ...Object.fromEntries(names.map((name) => [`'${name}'`, `'${unique(name)}'`])),
    });
    const file = await Deno.makeTempFile({ suffix: '.mjs' });
    try {
      await Deno.writeTextFile(file, code);
      const run = await new Deno.Command(Deno.execPath(), {
        args: ['run', '--allow-net', '--allow-read', '--allow-env', '--allow-sys', file],
        env: { NAMESRV_ADDR: nameServer(variable) },
        stdout: 'piped',
        stderr: 'piped',
        signal: AbortSignal.timeout(60_000),
      }).output();
      const out = new TextDecoder().decode(run.stdout);
      const err = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, `exit ${run.code}\n${out}\n${err}`);
      assert.match(out, /^SEND_OK [0-9A-F]{32}$/m);
    } finally {
      await Deno.remove(file);
    }
  });
}
