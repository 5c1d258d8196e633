// The Apache RocketMQ Go client as an interop peer: the rmq-go-peer binary
// from RMQ_GO_PEER (`cargo xtask test` builds it and passes it on; see
// tests/interop/go). A missing variable fails the test, it never skips.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';

export function goPeer() {
  const peer = process.env.RMQ_GO_PEER;
  assert.ok(
    peer && peer.trim() !== '',
    'RMQ_GO_PEER is not set: the Go interop tests need the rmq-go-peer binary. Run them through ' +
      '`cargo xtask test` (which builds it), or build it (cd tests/interop/go && go build -o ' +
      '/var/tmp/rmq-go/rmq-go-peer .) and export RMQ_GO_PEER=/var/tmp/rmq-go/rmq-go-peer',
  );
  return peer;
}

/**
 * Runs `rmq-go-peer <args>` (bounded by `timeoutMs`); resolves with its
 * JSON lines, fails the test with its output when it exits non-zero.
 */
export function runGoPeer(args, timeoutMs = 30_000) {
  const peer = goPeer();
  return new Promise((resolve, reject) => {
    execFile(peer, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`rmq-go-peer ${args[0]} failed (${err.code ?? err.signal}):\n${stdout}\n${stderr}`));
        return;
      }
      try {
        resolve(stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l)));
      } catch (e) {
        reject(new Error(`rmq-go-peer ${args[0]} printed something not JSON: ${e.message}\n${stdout}`));
      }
    });
  });
}
