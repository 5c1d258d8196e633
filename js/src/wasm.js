// Loads the wasm-bindgen output (`--target nodejs`, CommonJS, which
// instantiates the module synchronously at load).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

let binding;
try {
  binding = require('../dist/wasm/rmq_wasm.js');
} catch (e) {
  const err = new Error(
    'rmq: the WebAssembly build is missing (js/dist/wasm/rmq_wasm.js); ' +
      'build it with `cargo xtask wasm` from the repository root',
  );
  err.code = 'INTERNAL';
  err.cause = e;
  throw err;
}

export const { WasmClient, lastPanic } = binding;
