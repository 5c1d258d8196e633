// Send benchmark for JavaScript clients, run by `cargo xtask bench --only node`.
//
//   node send_bench.mjs --client rmq|ts --endpoint ADDR --topic T --group G
//        [--bridge ws://HOST:PORT] [--concurrency N] [--batch-size N]
//        [--duration-sec S] [--warmup N] [--body-size BYTES]
//
// `--client rmq`: the npm package in js/ (rmq-core in WebAssembly), straight
// to the name server at ADDR over TCP, or through rmq-bridge with --bridge.
// `--client ts`: Apache's TypeScript client (npm rocketmq-client-nodejs)
// against a rocketmq-proxy gRPC endpoint at ADDR; resolved from
// RMQ_TS_CLIENT_DIR (the directory holding its node_modules).
//
// N sends are kept in flight from one event loop (Node has one thread; a
// "sender" is a loop awaiting its own sends). Prints one JSON summary line in
// the shape every bench program of `cargo xtask bench` prints, plus
// `cold_start_ms`: process start to the first acknowledged send.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = parseArgs(process.argv.slice(2));
const client = args.client ?? 'rmq';
const concurrency = Number(args.concurrency ?? 1);
const batchSize = Number(args['batch-size'] ?? 1);
const durationSec = Number(args['duration-sec'] ?? 8);
const warmup = Number(args.warmup ?? 100);
const body = new Uint8Array(Number(args['body-size'] ?? 1024)).fill(120);

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    out[key] = argv[i + 1];
    i++;
  }
  return out;
}

/** Returns { send(): Promise<number messages>, close(): Promise }. */
async function rmqClient() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const { Producer } = await import(path.join(here, '../../js/src/index.js'));
  const options = { nameServer: args.endpoint, group: args.group };
  if (args.bridge) options.bridge = args.bridge;
  const producer = new Producer(options);
  await producer.start();
  const messages = Array.from({ length: batchSize }, () => ({ topic: args.topic, body }));
  return {
    send: async () => {
      if (batchSize > 1) {
        await producer.sendBatch(messages);
      } else {
        await producer.send(messages[0]);
      }
      return batchSize;
    },
    close: () => producer.shutdown(),
  };
}

async function tsClient() {
  const dir = process.env.RMQ_TS_CLIENT_DIR;
  if (!dir) throw new Error('RMQ_TS_CLIENT_DIR is not set');
  const require = createRequire(path.join(dir, 'package.json'));
  const { Producer } = require('rocketmq-client-nodejs');
  const producer = new Producer({ endpoints: args.endpoint });
  await producer.startup();
  const buf = Buffer.from(body);
  return {
    send: async () => {
      await producer.send({ topic: args.topic, tag: 'bench', body: buf });
      return 1;
    },
    // Its shutdown logs to a closed stream and can throw; the numbers are in.
    close: () => producer.shutdown().catch(() => {}),
  };
}

const c = client === 'ts' ? await tsClient() : await rmqClient();
await c.send();
const coldStartMs = performance.now();
for (let i = 1; i < warmup; i++) await c.send();

let sent = 0;
let errors = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const deadline = t0 + durationSec * 1000;
async function sender() {
  while (performance.now() < deadline) {
    try {
      // Not `sent += await …`: that reads `sent` before the await and
      // loses the other senders' increments.
      const n = await c.send();
      sent += n;
    } catch {
      errors++;
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, sender));
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
await Promise.race([c.close(), new Promise((r) => setTimeout(r, 5000))]);
console.log(
  JSON.stringify({
    type: 'summary',
    client,
    sent,
    errors,
    msgs_per_sec: sent / elapsed,
    cpu_user_sec: cpu.user / 1e6,
    cpu_sys_sec: cpu.system / 1e6,
    max_rss_kib: process.resourceUsage().maxRSS,
    cold_start_ms: coldStartMs,
  }),
);
process.exit(0);
