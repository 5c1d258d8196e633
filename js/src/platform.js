// Picks what the host runtime provides: host facts (ip, pid), the
// NAMESRV_ADDR default, and the transport that opens connections.
//
// Transports, first match wins:
//   1. `transport: { open(addr) }` — the user's factory (see index.d.ts,
//      `Transport`): any duplex of Uint8Array chunks;
//   2. `bridge: 'ws://host:port'` (+ `token`, `webSocket`) — WebSocket
//      through rmq-bridge (browsers, edge runtimes; works wherever
//      `WebSocket` exists, or with the `webSocket` class given: `ws`);
//   3. the runtime's own TCP: `node:net` in Node (and Bun), `Deno.connect`
//      in Deno. Elsewhere (a browser) there is no TCP: a bridge or a
//      transport is required.
import { RmqError } from './errors.js';
import { duplexConnector } from './transport.js';
import { bridgeConnector } from './transport-ws.js';

/** 'deno', 'node' or 'browser' (anything else: browsers, workers, edge runtimes). */
export const runtime = globalThis.Deno?.version?.deno
  ? 'deno'
  : globalThis.process?.versions?.node
    ? 'node'
    : 'browser';

const platform =
  runtime === 'deno'
    ? await import('./platform-deno.js')
    : runtime === 'node'
      ? await import('./platform-node.js')
      : await import('./platform-browser.js');

/** { ip, pid } for the client id (Java: ip@pid#nanos). */
export const hostFacts = platform.hostFacts;

/** `NAMESRV_ADDR` where the runtime has an environment, else undefined. */
export const envNameServer = platform.envNameServer;

/** The option keys that choose a transport (they never reach the core). */
export const TRANSPORT_KEYS = ['transport', 'bridge', 'token', 'webSocket'];

/**
 * The connector for these options: `{ name, connect(addr, events) → link }`
 * (`events` and `link` as in platform-node.js `connectTcp`). Throws a
 * CONFIG RmqError when the options are unusable or the runtime has no TCP.
 */
export function selectTransport({ transport, bridge, token, webSocket } = {}) {
  if (transport !== undefined) {
    if (!transport || typeof transport.open !== 'function') {
      throw new RmqError('CONFIG', 'transport must be an object with an open(addr) method');
    }
    return { name: 'custom', connect: duplexConnector((addr) => transport.open(addr)) };
  }
  if (bridge !== undefined) {
    return { name: 'bridge', connect: bridgeConnector(bridge, token, webSocket) };
  }
  if (token !== undefined) {
    throw new RmqError('CONFIG', 'token is for the bridge: pass bridge as well');
  }
  if (webSocket !== undefined) {
    throw new RmqError('CONFIG', 'webSocket is for the bridge: pass bridge as well');
  }
  if (!platform.connect) {
    throw new RmqError(
      'CONFIG',
      `no TCP in this runtime (${runtime}): pass bridge: 'ws://…' (rmq-bridge) or a transport`,
    );
  }
  return { name: platform.transportName, connect: platform.connect };
}
