// What only Node can do: TCP sockets (node:net) and facts about the process.
// Loaded by platform.js only in Node (and Bun), never in a browser.
import net from 'node:net';
import os from 'node:os';
import { CONNECT_TIMEOUT_MS, parseAddr } from './transport.js';

export { CONNECT_TIMEOUT_MS, parseAddr };

/**
 * Opens a TCP connection; `events` gets onOpen(), onData(bytes),
 * onDrain() (after a write returned false), onClose(reason) — onClose
 * exactly once, also for a failed connect. Returns { write(bytes) →
 * false when the socket's buffer is full, close() }.
 */
export function connectTcp(addr, events) {
  const target = parseAddr(addr);
  if (!target) {
    queueMicrotask(() => events.onClose(`bad address ${addr}`));
    return { write: () => true, close() {} };
  }
  let reason = null;
  let open = false;
  const socket = net.connect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  // Idle timeout doubles as the connect timeout; cleared once open.
  socket.setTimeout(CONNECT_TIMEOUT_MS);
  socket.on('timeout', () => {
    if (!open) socket.destroy(new Error(`connect to ${addr} timed out`));
  });
  socket.on('connect', () => {
    open = true;
    socket.setTimeout(0);
    events.onOpen();
  });
  socket.on('data', (chunk) => events.onData(chunk));
  socket.on('drain', () => events.onDrain());
  socket.on('error', (e) => {
    reason ??= open ? `read: ${e.message}` : `connect to ${addr}: ${e.message}`;
  });
  socket.on('close', () => events.onClose(reason ?? 'closed by peer'));
  // Writes of one turn of the event loop leave together: the first write
  // corks the socket and the uncork waits for the ticks and promise
  // continuations queued behind it (the sends that answers just woke), so
  // many requests share one writev instead of one syscall each.
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return {
    write(bytes) {
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      return socket.write(bytes);
    },
    close() {
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.on('error', () => {});
      socket.end();
      socket.destroySoon?.();
      setTimeout(() => socket.destroy(), 1000).unref();
    },
  };
}

/** The first non-internal IPv4 address (as Java picks), else loopback. */
export function hostFacts() {
  let ip = '127.0.0.1';
  try {
    outer: for (const list of Object.values(os.networkInterfaces())) {
      for (const a of list ?? []) {
        if (a.family === 'IPv4' && !a.internal) {
          ip = a.address;
          break outer;
        }
      }
    }
  } catch {
    // keep loopback
  }
  return { ip, pid: process.pid };
}

/** platform.js's default connector here: node:net. */
export const connect = connectTcp;
export const transportName = 'node';

export function envNameServer() {
  return process.env.NAMESRV_ADDR;
}
