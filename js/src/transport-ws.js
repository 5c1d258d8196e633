// Connections through rmq-bridge: one WebSocket to
// `<bridge>/tcp/<host>:<port>` carries one TCP connection's bytes, in
// binary messages both ways. For browsers and edge runtimes (anywhere a
// standard `WebSocket` exists). Received messages are read as
// ArrayBuffers and handed on as views, sent bytes are passed as they are:
// no copies here.
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

/**
 * A connector through the bridge at `bridge` (`ws://host:port`, or with a
 * path prefix when the bridge sits behind a proxy). `token`, when given,
 * goes in the `token` query parameter: a browser's WebSocket cannot set
 * an Authorization header.
 */
export function bridgeConnector(bridge, token) {
  if (typeof globalThis.WebSocket !== 'function') {
    throw new RmqError(
      'CONFIG',
      'bridge needs a WebSocket implementation (globalThis.WebSocket): browsers, Deno and ' +
        'Node >= 22 have one; on Node 20 run node with --experimental-websocket',
    );
  }
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
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
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
        ws = new WebSocket(`${base}/tcp/${addr}${query}`);
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
