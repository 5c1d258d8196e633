// The npm package under Deno: TCP through Deno.connect (chosen
// automatically), producing and consuming against real brokers.
// Run: deno test --allow-net --allow-read --allow-env --allow-sys deno.test.js
// (cargo xtask test runs it with the npm `deno` binary of this directory).
import assert from 'node:assert/strict';
import { Producer, PushConsumer, ConsumeResult } from '../src/index.js';
import { runtime, selectTransport } from '../src/platform.js';
import { BROKERS, nameServer, unique, eventually, waitForRoute } from '../test-support/broker.js';

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
