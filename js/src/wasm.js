// Loads rmq-core's WebAssembly module in every runtime and keeps a live
// instance of it for new clients.
//
// The bindings are wasm-bindgen's `--target web` output (an ES module,
// `dist/wasm/rmq_wasm.js`). The `.wasm` is compiled ONCE into a
// `WebAssembly.Module` (bytes read from disk in Node and Deno, `fetch` in
// browsers, with top-level await) and instantiated with the glue's
// `initSync({ module })`.
//
// A panic in Rust (panic = "abort" on wasm32) traps the instance: the call
// throws a `WebAssembly.RuntimeError` and the instance must not be used
// again (its shadow stack and the objects' borrow flags are left as they
// were). `trapped()` then fails every client of that instance with one
// RmqError and swaps in a fresh instance of the cached module, so clients
// created afterwards work. One glue module holds one instance (its state
// is module-level), so every instance gets its own copy of the glue,
// imported under its own URL (`?instance=N`); the next copy is imported
// ahead of need, so the swap itself is synchronous.
import { RmqError } from './errors.js';

const GLUE = new URL('../dist/wasm/rmq_wasm.js', import.meta.url);
const WASM = new URL('../dist/wasm/rmq_wasm_bg.wasm', import.meta.url);

function missing(e) {
  const err = new RmqError(
    'INTERNAL',
    'rmq: the WebAssembly build is missing or unreadable (js/dist/wasm/); ' +
      'build it with `cargo xtask wasm` from the repository root',
  );
  err.cause = e;
  return err;
}

/** The `.wasm` compiled once: bytes from disk (Node, Deno) or `fetch`. */
async function compile() {
  try {
    if (globalThis.Deno?.readFile) {
      return await WebAssembly.compile(await globalThis.Deno.readFile(WASM));
    }
    if (WASM.protocol === 'file:' && globalThis.process?.versions?.node) {
      const { readFile } = await import('node:fs/promises');
      return await WebAssembly.compile(await readFile(WASM));
    }
    const response = await fetch(WASM);
    if (!response.ok) throw new Error(`GET ${WASM.href}: ${response.status} ${response.statusText}`);
    if (WebAssembly.compileStreaming && response.headers.get('content-type') === 'application/wasm') {
      return await WebAssembly.compileStreaming(response);
    }
    return await WebAssembly.compile(await response.arrayBuffer());
  } catch (e) {
    throw missing(e);
  }
}

let glueCopies = 0;

/** A fresh, not yet instantiated copy of the glue module. */
async function importGlue() {
  glueCopies += 1;
  const url = glueCopies === 1 ? GLUE.href : `${GLUE.href}?instance=${glueCopies}`;
  try {
    return await import(url);
  } catch (e) {
    throw missing(e);
  }
}

const module = await compile();

/**
 * One instance of the module and the clients living in it. `attach`
 * registers a client's `fail(error)`, called once if the instance traps.
 */
class Instance {
  static #count = 0;
  #clients = new Set();

  constructor(glue) {
    glue.initSync({ module });
    Instance.#count += 1;
    /** 1 for the first instance, then one more per trap. */
    this.id = Instance.#count;
    this.glue = glue;
    this.WasmClient = glue.WasmClient;
    /** Null while alive, then the RmqError its clients failed with. */
    this.dead = null;
  }

  attach(fail) {
    this.#clients.add(fail);
    return () => this.#clients.delete(fail);
  }

  /** The last panic's message, read from this (trapped) instance. */
  lastPanic() {
    try {
      return this.glue.lastPanic() ?? undefined;
    } catch {
      return undefined;
    }
  }

  kill(error) {
    this.dead = error;
    const clients = [...this.#clients];
    this.#clients.clear();
    for (const fail of clients) {
      try {
        fail(error);
      } catch {
        // one client's failure must not keep the others alive
      }
    }
  }
}

let current = new Instance(await importGlue());
let spare = null; // a glue copy for the next instance, imported ahead
let spareLoading = null;

function prepareSpare() {
  if (spare || spareLoading) return;
  spareLoading = importGlue().then(
    (glue) => {
      spare = glue;
      spareLoading = null;
    },
    () => {
      spareLoading = null; // tried again at the next trap
    },
  );
}
prepareSpare();
await spareLoading; // the first trap is always recovered from at once

/**
 * The live instance for a new client. After a trap whose replacement
 * could not be made yet (the next glue copy is still loading), throws an
 * INTERNAL RmqError; a later call gets the new instance.
 */
export function liveInstance() {
  if (!current.dead) return current;
  if (spare) {
    const glue = spare;
    spare = null;
    current = new Instance(glue);
    prepareSpare();
    return current;
  }
  prepareSpare();
  throw new RmqError('INTERNAL', 'rmq-wasm is being re-instantiated after a panic; try again');
}

/** Resolves once a live instance is ready (after a trap: re-instantiated). */
export async function ready() {
  for (let i = 0; i < 100; i++) {
    try {
      return liveInstance();
    } catch {
      await (spareLoading ?? new Promise((r) => setTimeout(r, 10)));
    }
  }
  return liveInstance();
}

/** True when `e` is a trap of the instance (a panic under panic = "abort"). */
export function isTrap(e) {
  return e instanceof WebAssembly.RuntimeError || /recursive use of an object/.test(e?.message ?? '');
}

/**
 * `instance` trapped with `e`: fails every client of it with one RmqError
 * (code INTERNAL, the panic's message, `cause` the trap) and, at once,
 * puts a fresh instance of the cached module in its place for new clients.
 * Returns that error (the same for every later call about this instance).
 */
export function trapped(instance, e) {
  if (instance.dead) return instance.dead;
  const why = instance.lastPanic() ?? e?.message ?? String(e);
  const error = new RmqError('INTERNAL', `rmq-wasm panicked (the client is dead, new clients get a fresh instance): ${why}`);
  error.panic = why;
  error.cause = e;
  instance.kill(error);
  if (instance === current) {
    try {
      liveInstance();
    } catch {
      // the next liveInstance() call makes it
    }
  }
  return error;
}

/**
 * TEST-ONLY: makes the live instance panic (rmq-wasm's `__testPanic`),
 * as a bug in the core would, and handles the trap as a client call does.
 * Returns the error its clients failed with.
 */
export function __testPanic(message = 'deliberate test panic') {
  const instance = liveInstance();
  try {
    instance.glue.__testPanic(message);
  } catch (e) {
    return trapped(instance, e);
  }
  throw new Error('__testPanic did not trap');
}
