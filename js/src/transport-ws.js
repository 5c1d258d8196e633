// Connections through rmq-bridge: one WebSocket to
// `<bridge>/tcp/<host>:<port>` carries one TCP connection's bytes, in
// binary messages both ways. For browsers and edge runtimes (anywhere a
// standard `WebSocket` exists), and Node 18/20 with the `webSocket` option
// (the `ws` package's class). Received messages are read as ArrayBuffers
// and handed on as views, sent bytes are passed as they are: no copies
// here.
//
// Only what the `ws` package implements the WHATWG way is used:
// `new WebSocket(url)`, `binaryType = 'arraybuffer'`, the `onopen`,
// `onmessage` (`ev.data`), `onerror` (`ev.message`) and `onclose`
// (`ev.code`, `ev.reason`) attributes, `bufferedAmount`, `send(Uint8Array)`
// once open, and `close(code)`. `ws` is a Node EventEmitter: an 'error' it
// emits with no listener throws out of the event loop (its close() during
// the handshake emits one), so a detached socket keeps a no-op `onerror`.
import { RmqError } from './errors.js';
import { parseAddr } from './transport.js';

/**
 * How long the WebSocket may take to open: the bridge's own connect to
 * the target (default 5 s) comes first, so a little more than that.
 */
export const BRIDGE_OPEN_TIMEOUT_MS = 6000;

/** Bytes buffered by the WebSocket before the core holds further writes. */
const HIGH_WATER = 1024 * 1024;

/** How often a backed-up WebSocket is looked at (it has no 'drain' event). */
const DRAIN_POLL_MS = 10;

/** The bridge URL, checked: ws:// or wss://, no query or fragment. */
function bridgeBase(bridge) {
  let url;
  try {
    url = new URL(bridge);
  } catch {
    throw new RmqError('CONFIG', `bridge must be a ws:// or wss:// URL, got ${JSON.stringify(bridge)}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new RmqError('CONFIG', `bridge must be a ws:// or wss:// URL, got ${JSON.stringify(bridge)}`);
  }
  if (url.search || url.hash) {
    throw new RmqError('CONFIG', 'bridge must not carry a query or fragment (pass token separately)');
  }
  return url.href.replace(/\/+$/, '');
}

/** Whether `f` can be called with `new` (checked without calling it). */
function isConstructor(f) {
  if (typeof f !== 'function') return false;
  try {
    Reflect.construct(String, [], f);
    return true;
  } catch {
    return false;
  }
}

/** Ignores a detached WebSocket's late 'error' (see the top of this file). */
const ignore = () => {};

/**
 * The WebSocket class the bridge uses: `webSocket` when given (checked: a
 * constructor), else the runtime's `globalThis.WebSocket`.
 */
function webSocketClass(webSocket) {
  if (webSocket !== undefined) {
    if (!isConstructor(webSocket)) {
      throw new RmqError(
        'CONFIG',
        "webSocket must be a WebSocket class (a constructor), e.g. the ws package's: " +
          "import WebSocket from 'ws'; … { bridge, webSocket: WebSocket }",
      );
    }
    return webSocket;
  }
  if (typeof globalThis.WebSocket !== 'function') {
    throw new RmqError(
      'CONFIG',
      'bridge needs a WebSocket implementation and this runtime has no globalThis.WebSocket ' +
        "(Node 18/20): pass one as the webSocket option, e.g. the ws package's " +
        "(npm install ws; import WebSocket from 'ws'; … { bridge, webSocket: WebSocket }), " +
        'or on Node 20 run node with --experimental-websocket; browsers, Deno and Node >= 22 have one',
    );
  }
  return globalThis.WebSocket;
}

/**
 * A connector through the bridge at `bridge` (`ws://host:port`, or with a
 * path prefix when the bridge sits behind a proxy). `token`, when given,
 * goes in the `token` query parameter: a browser's WebSocket cannot set
 * an Authorization header. `webSocket`, when given, is the WebSocket class
 * to use instead of `globalThis.WebSocket` (the `ws` package's on Node
 * 18/20).
 */
export function bridgeConnector(bridge, token, webSocket) {
  const WebSocketClass = webSocketClass(webSocket);
  if (token !== undefined && (typeof token !== 'string' || token === '')) {
    throw new RmqError('CONFIG', 'token must be a non-empty string');
  }
  const base = bridgeBase(bridge);
  const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
  return (addr, events) => {
    let finished = false;
    let ws = null;
    let drainTimer = null;
    let opened = false;
    let error = null;
    const before = []; // writes before the WebSocket opened

    const finish = (reason) => {
      if (finished) return;
      finished = true;
      clearTimeout(openTimer);
      clearTimeout(drainTimer);
      detach();
      events.onClose(reason);
    };
    const detach = () => {
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = ignore;
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    };
    const openTimer = setTimeout(() => finish(`connect to ${addr} through ${base} timed out`), BRIDGE_OPEN_TIMEOUT_MS);

    if (!parseAddr(addr)) {
      queueMicrotask(() => finish(`bad address ${addr}`));
    } else {
      try {
        ws = new WebSocketClass(`${base}/tcp/${addr}${query}`);
        ws.binaryType = 'arraybuffer';
      } catch (e) {
        ws = null;
        queueMicrotask(() => finish(`connect to ${addr} through ${base}: ${e?.message ?? e}`));
      }
    }
    if (ws) {
      ws.onopen = () => {
        opened = true;
        clearTimeout(openTimer);
        events.onOpen();
        for (const bytes of before.splice(0)) if (!finished) ws.send(bytes);
      };
      ws.onmessage = (ev) => {
        if (finished) return;
        if (ev.data instanceof ArrayBuffer) events.onData(new Uint8Array(ev.data));
        else finish('bridge sent a non-binary message');
      };
      ws.onerror = (ev) => {
        error ??= ev?.message ?? 'WebSocket error';
      };
      ws.onclose = (ev) => {
        // A refusal before the upgrade (401, 403, …) reaches a browser only
        // as an error and close code 1006.
        const code = ev?.code ? ` (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})` : '';
        finish(
          opened
            ? `closed by the bridge${code}`
            : `connect to ${addr} through ${base} failed${code}${error ? `: ${error}` : ''}`,
        );
      };
    }

    const watchDrain = () => {
      drainTimer = setTimeout(() => {
        drainTimer = null;
        if (finished) return;
        if (ws.bufferedAmount < HIGH_WATER / 2) events.onDrain();
        else watchDrain();
      }, DRAIN_POLL_MS);
    };

    return {
      write(bytes) {
        if (finished || !ws) return true;
        if (!opened) {
          before.push(bytes); // sent once open, in order
          return true;
        }
        ws.send(bytes);
        if (ws.bufferedAmount >= HIGH_WATER) {
          if (drainTimer === null) watchDrain();
          return false;
        }
        return true;
      },
      close() {
        if (finished) return;
        finished = true;
        clearTimeout(openTimer);
        clearTimeout(drainTimer);
        detach();
      },
    };
  };
}
