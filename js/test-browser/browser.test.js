// The npm package in a real browser: Debian's chromium, driven by
// playwright-core, loads pages from a tiny HTTP server (js/src and js/dist,
// also under /node_modules/rmq/ as an installed package), and the pages
// produce and consume through rmq-bridge against real brokers: page.html
// (three messages, then a Rust panic), and the browser blocks of README.md
// and js/README.md run as written (after `<!-- readme-test: browser -->`;
// only their documented placeholders — name server, bridge URL, token — and
// their topic and group names are replaced). A screenshot of each run is
// kept under $CARGO_TARGET_DIR/rmq-artifacts/.
//
// Run (from js/test-browser, after `npm ci`):
//   RMQ_TEST_NAMESRV_V5=127.0.0.1:9876 RMQ_TEST_NAMESRV_V4=127.0.0.1:9886 node --test
// Needs /usr/bin/chromium (or $CHROMIUM) and the rmq-bridge binary
// ($RMQ_BRIDGE, else $CARGO_TARGET_DIR/debug/rmq-bridge, built when missing).
// Anything missing fails the test; nothing is skipped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { BROKERS, nameServer, unique } from '../test-support/broker.js';
import { startBridge, stopBridge, targetDir } from '../test-support/bridge.js';
import { blockAfter, substitute } from '../test-support/readme.js';

const here = dirname(fileURLToPath(import.meta.url));
const jsRoot = resolve(here, '..');
const repoRoot = resolve(jsRoot, '..');
const artifacts = join(targetDir, 'rmq-artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const PAGE_TIMEOUT_MS = 90_000;

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
};

/** Files served from memory (path -> { type, body }): the README pages. */
const pages = new Map();

/** Where an installed package is: what the README page's import map names. */
const INSTALLED = '/node_modules/rmq/';

/**
 * Serves js/src, js/dist and this directory's page on 127.0.0.1; js/src and
 * js/dist also as an installed package (under /node_modules/rmq/); and
 * `pages`.
 */
function serve() {
  const server = createServer(async (req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const page = pages.get(path);
    if (page !== undefined) {
      res.writeHead(200, { 'content-type': page.type, 'cache-control': 'no-store' }).end(page.body);
      return;
    }
    if (path.startsWith(INSTALLED)) path = `/${path.slice(INSTALLED.length)}`;
    const file = join(jsRoot, path);
    const allowed = ['src', 'dist', 'test-browser'].some((d) => file.startsWith(join(jsRoot, d) + sep));
    const type = TYPES[path.slice(path.lastIndexOf('.'))];
    if (!allowed || !type || file.includes(`${sep}node_modules${sep}`)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok(server));
  });
}

let server;
let bridge;
let browser;
const token = randomBytes(16).toString('hex');

before(async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} is missing: apt-get install -y chromium (cargo xtask test installs it), or set CHROMIUM`,
  );
  const nameServers = BROKERS.map((b) => nameServer(b.variable));
  server = await serve();
  const origin = `http://127.0.0.1:${server.address().port}`;
  bridge = await startBridge({ nameServers, token, origin });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
  mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close().catch(() => {});
  if (bridge) await stopBridge(bridge);
  await new Promise((r) => (server ? server.close(r) : r()));
});

for (const { label, variable } of BROKERS) {
  test(`a page produces and consumes through rmq-bridge (broker ${label})`, async () => {
    const ns = nameServer(variable);
    const page = await browser.newPage({ viewport: { width: 1000, height: 480 } });
    const logs = [];
    page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    const params = new URLSearchParams({
      ns,
      label,
      bridge: bridge.url,
      token,
      topic: unique('browser_topic'),
      group: unique('browser'),
    });
    const origin = `http://127.0.0.1:${server.address().port}`;
    const shot = join(artifacts, `browser-${label}.png`);
    let result;
    try {
      await page.goto(`${origin}/test-browser/page.html?${params}`, { timeout: 30_000 });
      await page.waitForFunction(() => window.__rmqResult !== undefined, null, { timeout: PAGE_TIMEOUT_MS });
      result = await page.evaluate(() => window.__rmqResult);
    } finally {
      await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
      console.log(`screenshot: ${shot}`);
      await page.close().catch(() => {});
    }
    assert.ok(result?.ok, `the page failed: ${result?.error}\n${result?.stack ?? ''}\n${logs.join('\n')}`);
    assert.equal(result.runtime, 'browser');
    assert.deepEqual(result.sent.map((s) => s.status), ['SEND_OK', 'SEND_OK', 'SEND_OK']);
    assert.deepEqual([...result.received].sort(), result.sent.map((s) => s.body).sort());
    assert.equal(result.panic.code, 'INTERNAL');
    assert.equal(result.panic.sendAfter, 'SEND_OK');
    console.log(`${label}: produced and consumed 3 messages in the browser in ${result.ms} ms`);
  });
}

test('the bridge refuses a page without the token', async () => {
  const page = await browser.newPage();
  try {
    const origin = `http://127.0.0.1:${server.address().port}`;
    await page.goto(`${origin}/test-browser/page.html?ns=x:1&bridge=ws://127.0.0.1:1&topic=t&group=g&label=none`, { timeout: 30_000 });
    const outcome = await page.evaluate(
      ({ url, ns }) =>
        new Promise((resolve) => {
          const ws = new WebSocket(`${url}/tcp/${ns}`);
          ws.onopen = () => resolve('open');
          ws.onclose = (ev) => resolve(`closed ${ev.code}`);
          setTimeout(() => resolve('timeout'), 10_000);
        }),
      { url: bridge.url, ns: nameServer(BROKERS[0].variable) },
    );
    assert.equal(outcome, 'closed 1006', 'a refused upgrade (401) is a 1006 close in a browser');
  } finally {
    await page.close().catch(() => {});
  }
});

// --------------------------------------------------- the READMEs, as written

const READMES = {
  top: { file: join(repoRoot, 'README.md'), name: 'README.md' },
  js: { file: join(jsRoot, 'README.md'), name: 'js/README.md' },
};
const MARKER = '<!-- readme-test: browser -->';

/** The README block's placeholders, for this run. */
function placeholders(ns, names) {
  return {
    "'127.0.0.1:9876'": `'${ns}'`,
    "'ws://127.0.0.1:8080'": `'${bridge.url}'`,
    "'change-me'": `'${token}'`,
    ...Object.fromEntries(names.map((n) => [`'${n}'`, `'${unique(n)}'`])),
  };
}

/**
 * Serves `html` at a fresh path (and `files`, path -> { type, body }),
 * opens it, and waits (bounded) until the console lines satisfy `done`;
 * resolves with the lines. A page error fails at once. A screenshot is
 * kept as `shot`.
 */
async function runPage(html, shot, done, files = {}) {
  const path = `/readme-${unique('page')}.html`;
  const served = [[path, { type: TYPES['.html'], body: html }], ...Object.entries(files)];
  for (const [p, f] of served) pages.set(p, f);
  const page = await browser.newPage({ viewport: { width: 800, height: 200 } });
  const lines = [];
  const errors = [];
  page.on('console', (m) => lines.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  // A module or the .wasm not found fails at once (no pageerror for those).
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`);
  });
  page.on('requestfailed', (r) => errors.push(`${r.failure()?.errorText} ${r.url()}`));
  const what = () => `${html}\n${Object.values(files).map((f) => f.body).join('\n')}\nconsole:\n${lines.join('\n')}`;
  try {
    await page.goto(`http://127.0.0.1:${server.address().port}${path}`, { timeout: 30_000 });
    const deadline = Date.now() + PAGE_TIMEOUT_MS;
    while (!done(lines)) {
      assert.deepEqual(errors, [], `the page failed\n${what()}`);
      assert.ok(Date.now() < deadline, `timed out after ${PAGE_TIMEOUT_MS} ms: the page to print what the README says\n${what()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(errors, [], `the page failed\n${what()}`);
    return lines;
  } finally {
    await page.screenshot({ path: join(artifacts, shot), fullPage: true }).catch(() => {});
    await page.close().catch(() => {});
    for (const [p] of served) pages.delete(p);
  }
}

const SENT = /^SEND_OK [0-9A-F]{32}$/;

for (const { label, variable } of BROKERS) {
  test(`js/README.md's browser page runs as written (broker ${label})`, async () => {
    const { file, name } = READMES.js;
    const block = blockAfter(await readFile(file, 'utf8'), MARKER, { lang: 'html', name });
    const html = substitute(block, placeholders(nameServer(variable), ['web_pg', 'web_cg', 'web_topic']));
    const body = 'one from the browser';
    const lines = await runPage(html, `readme-page-${label}.png`, (l) => l.some((x) => SENT.test(x)) && l.includes(body));
    assert.equal(lines.filter((x) => SENT.test(x)).length, 1, `one send printed:\n${lines.join('\n')}`);
    assert.deepEqual(
      lines.filter((x) => x === body),
      [body],
      `the message consumed once:\n${lines.join('\n')}`,
    );
  });

  test(`README.md's browser example runs as written (broker ${label})`, async () => {
    // The block is a module of its own (app.js), imported by a page with
    // js/README.md's import map (so 'rmq' resolves); the page prints DONE
    // once the module has run to its end (shutdown included) without error.
    const page = blockAfter(await readFile(READMES.js.file, 'utf8'), MARKER, { lang: 'html', name: READMES.js.name });
    const importMap = page.match(/<script type="importmap">[^]*?<\/script>/)?.[0];
    assert.ok(importMap, `js/README.md's browser page has an import map:\n${page}`);
    const { file, name } = READMES.top;
    const block = blockAfter(await readFile(file, 'utf8'), MARKER, { lang: 'js', name });
    const code = substitute(block, placeholders(nameServer(variable), ['web_pg', 'clicks']));
    const app = `/${unique('app')}.js`;
    const done = unique('DONE');
    const html = `<!doctype html>\n${importMap}\n<script type="module">\n  await import('${app}');\n  console.log('${done}');\n</script>\n`;
    const files = { [app]: { type: TYPES['.js'], body: code } };
    const lines = await runPage(html, `readme-top-${label}.png`, (l) => l.includes(done), files);
    assert.equal(lines.filter((x) => SENT.test(x)).length, 1, `one send printed:\n${lines.join('\n')}`);
    assert.ok(lines.findIndex((x) => SENT.test(x)) < lines.indexOf(done), `the send is printed before the end:\n${lines.join('\n')}`);
  });
}
