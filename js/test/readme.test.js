// The repository README's Node example is run as written, against both
// brokers: the block after `<!-- readme-test: node -->` is saved inside the
// package (so `import … from 'rmq'` resolves to it by name, as it would for
// a user) with its topic and group names made unique, and run by node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROKERS, nameServer, unique } from '../test-support/broker.js';
import { blockAfter, substitute } from '../test-support/readme.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const packageDir = path.join(here, '..');
const readme = readFileSync(path.join(packageDir, '..', 'README.md'), 'utf8');

for (const { label, variable } of BROKERS) {
  test(`the README's Node example runs as written (broker ${label})`, () => {
    const names = ['readme_topic', 'readme_pg', 'readme_cg'];
    const code = substitute(
      blockAfter(readme, '<!-- readme-test: node -->'),
      Object.fromEntries(names.map((name) => [`'${name}'`, `'${unique(name)}'`])),
    );
    const file = path.join(packageDir, `.readme-example-${process.pid}-${label}.mjs`);
    writeFileSync(file, code);
    try {
      const run = spawnSync(process.execPath, [file], {
        cwd: packageDir,
        env: { ...process.env, NAMESRV_ADDR: nameServer(variable) },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(run.status, 0, `exit ${run.status} ${run.signal ?? ''}\n${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /^SEND_OK [0-9A-F]{32}$/m);
    } finally {
      rmSync(file, { force: true });
    }
  });
}
