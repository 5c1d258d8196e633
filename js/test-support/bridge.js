// Shared by the tests that go through the real rmq-bridge (js/test-ws from
// Node, js/test-browser from a browser): find or build the binary, start it
// on a free port, stop it; and a deadline for any promise.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Cargo's target directory: $CARGO_TARGET_DIR (from the repository root), else target/. */
export const targetDir = process.env.CARGO_TARGET_DIR
  ? resolve(repoRoot, process.env.CARGO_TARGET_DIR)
  : join(repoRoot, 'target');

/** Runs `fn` with a deadline; the rejection names `what`. */
export async function within(ms, what, fn) {
  let timer;
  try {
    return await Promise.race([
      fn(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The rmq-bridge binary ($RMQ_BRIDGE, else $CARGO_TARGET_DIR/debug/rmq-bridge), built (bounded) when missing. */
export function bridgeBinary() {
  const bin = process.env.RMQ_BRIDGE ?? join(targetDir, 'debug', 'rmq-bridge');
  if (existsSync(bin)) return bin;
  console.log(`building rmq-bridge (cargo build -p rmq --bin rmq-bridge): ${bin} is missing`);
  const r = spawnSync(process.env.CARGO ?? 'cargo', ['build', '-p', 'rmq', '--bin', 'rmq-bridge'], {
    cwd: repoRoot,
    stdio: 'inherit',
    timeout: 20 * 60_000,
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
  });
  assert.ok(r.status === 0 && existsSync(bin), `cannot build rmq-bridge (${r.error?.message ?? `exit ${r.status}`})`);
  return bin;
}

/**
 * Starts rmq-bridge ([`bridgeBinary`]) on a free port (port 0, read back
 * from its log), the name servers as its allowlist, `token` in
 * RMQ_BRIDGE_TOKEN and, when given, `origin` as its one --allow-origin;
 * resolves with { child, url, log() } once it serves (within 15 s, else it
 * is killed and the promise rejects).
 */
export function startBridge({ nameServers, token, origin }) {
  const bin = bridgeBinary();
  const args = ['--listen', '127.0.0.1:0'];
  if (origin !== undefined) args.push('--allow-origin', origin);
  args.push(...nameServers.flatMap((n) => ['--namesrv', n]));
  const child = spawn(bin, args, {
    env: { ...process.env, RMQ_BRIDGE_TOKEN: token, NO_COLOR: '1', RUST_LOG: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => (log += chunk));
  return within(15_000, 'rmq-bridge to start', () =>
    new Promise((ok, fail) => {
      child.once('error', (e) => fail(new Error(`cannot start ${bin}: ${e.message}`)));
      child.once('exit', (code) => fail(new Error(`rmq-bridge exited (${code}) before serving:\n${log}`)));
      const look = () => {
        // eslint-disable-next-line no-control-regex
        const m = log.replace(/\x1b\[[0-9;]*m/g, '').match(/listen=(127\.0\.0\.1:[0-9]+)/);
        if (m) {
          child.stderr.off('data', look);
          ok({ child, url: `ws://${m[1]}`, log: () => log });
        }
      };
      child.stderr.on('data', look);
    }),
  ).catch((e) => {
    child.kill('SIGKILL');
    throw e;
  });
}

/** Stops a bridge [`startBridge`] started: SIGTERM, SIGKILL after 5 s; resolves once it exited. */
export async function stopBridge(bridge) {
  const { child } = bridge;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(killer);
}
