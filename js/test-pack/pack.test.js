// The npm package as a user gets it: `npm pack`, then `npm install
// --offline` of the tarball into a fresh directory (no build step, no
// network: the package has no dependencies and no install script), then a
// tiny ESM program there that imports `rmq` BY NAME and sends and consumes
// one message against a real 5.x broker — under Node, and under Deno
// (bare `rmq` and the `npm:rmq` specifier, resolved from that
// node_modules). Also type-checks js/test-types/usage.ts against the
// installed package (its `exports` "types" condition, no path mapping),
// with tsc and with `deno check` ('npm:rmq').
// Prints the tarball's size and file list.
//
// Run (after the wasm build, `cargo xtask wasm`):
//   cd js/test-pack && RMQ_TEST_NAMESRV_V5=127.0.0.1:9876 node --test pack.test.js
// Deno: `$RMQ_DENO`, else js/test-deno's npm `deno` binary (`npm ci` there
// first); missing, the Deno tests fail (never skip). TypeScript: js/test-types'
// (`npm ci` there first). `cargo xtask test` runs this from xtask/src/runtimes.rs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nameServer, unique } from '../test-support/broker.js';

const JS = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(fs.readFileSync(path.join(JS, 'package.json'), 'utf8'));

/** npm pack, install and each program run get this long (then SIGKILL). */
const STEP_TIMEOUT_MS = 120_000;

/** Lifecycle scripts npm runs when the package is installed. */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare'];

/** Dependency fields: any entry means the offline install below cannot work. */
const DEPENDENCY_FIELDS = [
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'bundleDependencies',
  'bundledDependencies',
];

/** What the tarball must hold, exactly (npm adds README and package.json). */
function expectedFiles() {
  const sources = fs
    .readdirSync(path.join(JS, 'src'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => `src/${f}`);
  return [
    'README.md',
    'package.json',
    'src/index.d.ts',
    ...sources,
    'dist/wasm/rmq_wasm.js',
    'dist/wasm/rmq_wasm_bg.wasm',
  ].sort();
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: STEP_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
    ...options,
  });
  const shown = `${cmd} ${args.join(' ')} (in ${options.cwd ?? process.cwd()})`;
  if (r.error) assert.fail(`${shown}: ${r.error.message}`);
  if (r.signal) assert.fail(`${shown}: killed by ${r.signal} (over ${STEP_TIMEOUT_MS} ms?)\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.status, 0, `${shown} exited ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r;
}

let dir; // the fresh temp directory: the tarball and the "user's" project
let tarball;
let packed; // npm pack --json's entry

before(() => {
  assert.ok(
    fs.existsSync(path.join(JS, 'dist', 'wasm', 'rmq_wasm_bg.wasm')),
    'js/dist/wasm is missing: run `cargo xtask wasm` first',
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmq-pack-'));
  const r = run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: JS });
  packed = JSON.parse(r.stdout)[0];
  tarball = path.join(dir, packed.filename);
  assert.ok(fs.existsSync(tarball), `npm pack wrote no ${tarball}`);
});

after(() => {
  if (dir && !process.env.RMQ_KEEP_PACK) fs.rmSync(dir, { recursive: true, force: true });
});

test('the package declares no dependency and no install script', () => {
  for (const field of DEPENDENCY_FIELDS) {
    const deps = Object.keys(manifest[field] ?? {});
    assert.deepEqual(
      deps,
      [],
      `rmq now depends on ${deps.join(', ')} (${field}): the offline install of this test ` +
        'cannot fetch them — the package promises to be dependency-free; if that changed on purpose, ' +
        'install them here from the registry and say so',
    );
  }
  for (const s of INSTALL_SCRIPTS) {
    assert.equal(manifest.scripts?.[s], undefined, `scripts.${s} runs at install time: the package has no build step`);
  }
});

test('the tarball holds exactly the sources, the typings, the wasm and its glue, README and package.json', () => {
  const files = packed.files.map((f) => f.path).sort();
  console.log(
    `npm pack: ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ` +
      `${packed.entryCount} files`,
  );
  for (const f of packed.files) console.log(`  ${String(f.size).padStart(8)}  ${f.path}`);
  assert.deepEqual(files, expectedFiles());
  assert.ok(!files.some((f) => f.endsWith('.map')), 'no source maps');
  assert.ok(!files.some((f) => /(^|\/)test/.test(f)), 'no tests');
  assert.ok(!files.includes('binding.gyp'), 'a binding.gyp makes npm run node-gyp at install');
  // Every target the manifest names is in the tarball.
  const targets = [manifest.main, manifest.types];
  const walk = (v) => (typeof v === 'string' ? targets.push(v) : Object.values(v).forEach(walk));
  walk(manifest.exports);
  for (const t of targets) {
    assert.ok(files.includes(path.posix.normalize(t)), `package.json names ${t}, missing from the tarball`);
  }
  // Every relative module and URL the sources load is in the tarball.
  for (const f of files.filter((p) => p.startsWith('src/') && p.endsWith('.js'))) {
    const text = fs.readFileSync(path.join(JS, f), 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\(\s*|new URL\(\s*)'(\.{1,2}\/[^']+)'/g)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1]));
      assert.ok(files.includes(target), `${f} loads ${m[1]} (${target}), missing from the tarball`);
    }
  }
  // The budget's concern is the wasm; the tarball is about it plus ~100 KB of text.
  assert.ok(packed.size < 1024 * 1024, `the tarball is ${packed.size} bytes`);
});

let project; // the directory the tarball is installed into

test('npm install --offline of the tarball into a fresh directory needs no network and runs no script', () => {
  project = path.join(dir, 'app');
  fs.mkdirSync(project);
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'rmq-pack-check', version: '0.0.0', private: true, type: 'module' }, null, 2),
  );
  const started = Date.now();
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: project });
  console.log(`npm install --offline ${packed.filename}: ${Date.now() - started} ms`);
  const modules = fs.readdirSync(path.join(project, 'node_modules')).filter((n) => !n.startsWith('.'));
  assert.deepEqual(modules, ['rmq'], 'the install brought in nothing but rmq');
  const installed = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'rmq', 'package.json'), 'utf8'));
  for (const s of INSTALL_SCRIPTS) assert.equal(installed.scripts?.[s], undefined, `installed scripts.${s}`);
  const lock = JSON.parse(fs.readFileSync(path.join(project, 'package-lock.json'), 'utf8'));
  const entry = lock.packages['node_modules/rmq'];
  assert.ok(entry, 'package-lock.json lists node_modules/rmq');
  assert.notEqual(entry.hasInstallScript, true, 'npm saw an install script');
  assert.equal(Object.keys(lock.packages).length, 2, 'the lock holds the project and rmq only');
});

/** The user's program: imports `rmq` by name, sends one message and consumes it. */
const program = (specifier) => `
import { Producer, LitePullConsumer, RmqError } from '${specifier}';

const env = (k) => (globalThis.Deno ? Deno.env.get(k) : process.env[k]);
const nameServer = env('RMQ_TEST_NAMESRV_V5');
const topic = env('RMQ_PACK_TOPIC');
const body = 'from the packed rmq ' + Date.now();

const producer = new Producer({ nameServer, group: env('RMQ_PACK_GROUP') + '_pg' });
await producer.start();
const sent = await producer.send({ topic, tag: 'pack', body });

const consumer = new LitePullConsumer({ nameServer, group: env('RMQ_PACK_GROUP') + '_cg', autoCommit: false });
consumer.assign([sent.queue]);
await consumer.start();
await consumer.seek(sent.queue, sent.queueOffset);
let got;
const deadline = Date.now() + 30_000;
while (!got && Date.now() < deadline) {
  for (const m of await consumer.poll(1000)) {
    if (new TextDecoder().decode(m.body) === body) got = m;
  }
}
await consumer.shutdown();
await producer.shutdown();
console.log(JSON.stringify({
  resolved: import.meta.resolve('${specifier}'),
  status: sent.status,
  sent: sent.msgId,
  received: got?.msgId,
  tags: got?.tags,
  rmqError: typeof RmqError === 'function',
}));
`;

function checkOutput(r, label) {
  const last = r.stdout.trim().split('\n').at(-1);
  const out = JSON.parse(last);
  console.log(`${label}: ${last}`);
  const root = fs.realpathSync(path.join(project, 'node_modules', 'rmq'));
  const resolved = fs.realpathSync(fileURLToPath(out.resolved));
  assert.equal(resolved, path.join(root, 'src', 'index.js'), `rmq resolved to ${out.resolved}, not the installed package`);
  assert.equal(out.status, 'SEND_OK');
  assert.equal(out.received, out.sent, 'the message sent came back');
  assert.equal(out.tags, 'pack');
  assert.equal(out.rmqError, true);
}

function programEnv(ns, prefix) {
  return {
    ...process.env,
    RMQ_TEST_NAMESRV_V5: ns,
    RMQ_PACK_TOPIC: unique(`${prefix}_topic`),
    RMQ_PACK_GROUP: unique(prefix),
  };
}

test('an ESM program importing rmq by name sends and consumes one message (Node, 5.x broker)', () => {
  const ns = nameServer('RMQ_TEST_NAMESRV_V5');
  assert.ok(project, 'installed by the previous test');
  fs.writeFileSync(path.join(project, 'main.js'), program('rmq'));
  const r = run(process.execPath, ['main.js'], { cwd: project, env: programEnv(ns, 'js_pack_node') });
  checkOutput(r, 'node');
});

/** The Deno binary: $RMQ_DENO, else js/test-deno's (npm ci there). */
function deno() {
  const bin = process.env.RMQ_DENO || path.join(JS, 'test-deno', 'node_modules', '.bin', 'deno');
  assert.ok(
    fs.existsSync(bin),
    `no Deno at ${bin}: set RMQ_DENO, or run \`npm ci\` in js/test-deno (cargo xtask test does)`,
  );
  return bin;
}

for (const specifier of ['rmq', 'npm:rmq']) {
  test(`the same program under Deno, importing '${specifier}' from the installed node_modules (5.x broker)`, () => {
    const ns = nameServer('RMQ_TEST_NAMESRV_V5');
    assert.ok(project, 'installed by an earlier test');
    const file = specifier === 'rmq' ? 'main-deno.js' : 'main-deno-npm.js';
    fs.writeFileSync(path.join(project, file), program(specifier));
    const r = run(
      deno(),
      // --cached-only: nothing from the network; node_modules is the user's (package.json present).
      ['run', '--cached-only', '--allow-net', '--allow-read', '--allow-env', '--allow-sys', file],
      {
        cwd: project,
        env: {
          ...programEnv(ns, 'js_pack_deno'),
          DENO_NO_UPDATE_CHECK: '1',
          DENO_DIR: path.join(dir, 'deno-dir'),
        },
      },
    );
    checkOutput(r, `deno (${specifier})`);
  });
}

test('usage.ts type-checks against the installed package, resolved by its exports (tsc --strict)', () => {
  assert.ok(project, 'installed by an earlier test');
  const types = path.join(JS, 'test-types');
  const tsc = path.join(types, 'node_modules', 'typescript', 'bin', 'tsc');
  assert.ok(fs.existsSync(tsc), `no TypeScript at ${tsc}: run \`npm ci\` in js/test-types (cargo xtask test does)`);
  const check = path.join(project, 'typecheck');
  fs.mkdirSync(check);
  fs.copyFileSync(path.join(types, 'usage.ts'), path.join(check, 'usage.ts'));
  fs.writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['es2022', 'dom', 'dom.iterable'],
        types: [],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      files: ['typecheck/usage.ts'],
    }),
  );
  const r = run(process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit', '--strict', '--listFiles'], {
    cwd: project,
  });
  const typings = fs.realpathSync(path.join(project, 'node_modules', 'rmq', 'src', 'index.d.ts'));
  const listed = r.stdout.split('\n').filter((l) => l.includes('/rmq/'));
  console.log(`tsc: rmq's typings: ${listed.join(', ')}`);
  assert.deepEqual(
    listed.map((l) => fs.realpathSync(l.trim())),
    [typings],
    'tsc took the installed package\'s src/index.d.ts (and nothing else of it)',
  );
});

test("usage.ts type-checks under Deno against 'npm:rmq' (deno check, the exports' types)", () => {
  assert.ok(project, 'installed by an earlier test');
  const source = fs.readFileSync(path.join(JS, 'test-types', 'usage.ts'), 'utf8');
  const npmSource = source.replaceAll("from 'rmq'", "from 'npm:rmq'");
  assert.notEqual(npmSource, source, "usage.ts imports from 'rmq'");
  fs.writeFileSync(path.join(project, 'usage-deno.ts'), npmSource);
  // Unused @ts-expect-error lines fail the check: the typings were found (not `any`).
  run(deno(), ['check', '--cached-only', 'usage-deno.ts'], {
    cwd: project,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: path.join(dir, 'deno-dir') },
  });
});
