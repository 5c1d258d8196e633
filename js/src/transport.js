// Connections over any duplex of byte chunks: a user's transport
// (`{ open(addr) }`, see `Transport` in index.d.ts) and Deno's TCP both
// come through here. The host sees the same link as with node:net:
// `connect(addr, events)` → { write(bytes) → false when backed up, close() },
// with events onOpen(), onData(bytes), onDrain(), onClose(reason) —
// onClose exactly once (also for a failed open), never after close().
// Chunks cross as they are: what the socket reads goes to the core, what
// the core writes goes to the socket, no copies here.

/** How long opening a connection may take (Java: connectTimeoutMillis = 3 s). */
export const CONNECT_TIMEOUT_MS = 3000;

/** Bytes written but not yet taken by the socket before the core holds writes. */
const HIGH_WATER = 256 * 1024;

/** How long a closed connection may take to write out what it was given. */
const CLOSE_FLUSH_MS = 1000;

/** `host:port`, `[v6]:port` → { host, port }, else null. */
export function parseAddr(addr) {
  if (typeof addr !== 'string') return null;
  const i = addr.lastIndexOf(':');
  if (i <= 0) return null;
  let host = addr.slice(0, i);
  const portText = addr.slice(i + 1);
  const port = Number(portText);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (!/^[0-9]+$/.test(portText) || !Number.isInteger(port) || port <= 0 || port > 65535) return null;
  return { host, port };
}

function describe(e) {
  return e?.message ?? String(e);
}

/** Reads every chunk of a ReadableStream or an async iterable. */
async function* chunks(readable, onReader) {
  if (typeof readable?.getReader === 'function') {
    const reader = readable.getReader();
    onReader(reader);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  if (readable && typeof readable[Symbol.asyncIterator] === 'function') {
    yield* readable;
    return;
  }
  throw new Error('transport: readable is neither a ReadableStream nor an async iterable');
}

/**
 * A connector over `open(addr)`, which resolves with a duplex
 * `{ readable, writable, close() }` (a Deno.Conn, a Cloudflare socket, a
 * Node `Duplex.toWeb(socket)` plus close, …) or rejects when it cannot
 * connect. A read error or the end of `readable` closes the connection;
 * so does a failed write.
 */
export function duplexConnector(open) {
  return (addr, events) => {
    let finished = false; // onClose given, or the host closed it
    let socket = null;
    let writer = null;
    let reader = null;
    let before = []; // writes before the connection opened
    let queued = 0; // bytes handed to the writer, not yet written
    let blocked = false;

    const finish = (reason) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      shut();
      events.onClose(reason);
    };
    const closeSocket = () => {
      try {
        reader?.cancel().catch(() => {});
      } catch {
        // already released
      }
      try {
        const closing = socket?.close?.();
        closing?.catch?.(() => {});
      } catch {
        // already closed
      }
    };
    // On an error: at once. When the host closes: what was written first
    // (bounded by CLOSE_FLUSH_MS), as node:net's end() does.
    const shut = (graceful = false) => {
      if (!graceful || !writer) {
        try {
          writer?.abort().catch(() => {});
        } catch {
          // already closed
        }
        closeSocket();
        return;
      }
      const flushed = writer.close().catch(() => {});
      const limit = new Promise((r) => setTimeout(r, CLOSE_FLUSH_MS));
      Promise.race([flushed, limit]).then(closeSocket);
    };
    const send = (bytes) => {
      queued += bytes.byteLength;
      writer.write(bytes).then(
        () => {
          queued -= bytes.byteLength;
          if (blocked && queued < HIGH_WATER / 2 && !finished) {
            blocked = false;
            events.onDrain();
          }
        },
        (e) => finish(`write: ${describe(e)}`),
      );
      if (queued >= HIGH_WATER) blocked = true;
      return !blocked;
    };

    const timer = setTimeout(() => finish(`connect to ${addr} timed out`), CONNECT_TIMEOUT_MS);
    Promise.resolve()
      .then(() => open(addr))
      .then(
        async (s) => {
          if (finished) {
            socket = s;
            shut();
            return;
          }
          clearTimeout(timer);
          socket = s;
          try {
            writer = s.writable.getWriter();
          } catch (e) {
            finish(`connect to ${addr}: transport has no usable writable (${describe(e)})`);
            return;
          }
          events.onOpen();
          for (const bytes of before) if (!finished) send(bytes);
          before = null;
          try {
            for await (const chunk of chunks(s.readable, (r) => (reader = r))) {
              if (finished) return;
              if (chunk.byteLength > 0) events.onData(chunk);
            }
            finish('closed by peer');
          } catch (e) {
            finish(`read: ${describe(e)}`);
          }
        },
        (e) => finish(`connect to ${addr}: ${describe(e)}`),
      );

    return {
      write(bytes) {
        if (finished) return true;
        if (before) {
          before.push(bytes);
          return true;
        }
        return send(bytes);
      },
      close() {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        shut(true);
      },
    };
  };
}
