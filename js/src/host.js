// The host loop: one WasmClient, its sockets, ONE timer, the clocks, and
// the promises waiting on operations. It follows the core's drain rule:
// after every input or command, carry out every transmit, settle every
// completion, hand out every delivery, then re-arm the timer at
// pollTimeout(). Nothing here decides protocol.
import { liveInstance, isTrap, trapped } from './wasm.js';
import { fromThrown, fromCompletion } from './errors.js';
import { hostFacts, selectTransport, TRANSPORT_KEYS } from './platform.js';

/** The monotonic clock, in ms (fractions are floored by the core). */
const now = () => performance.now();

const EMPTY = new Uint8Array(0);

export class Host {
  #client;
  #wasm; // the WebAssembly instance this client lives in (see wasm.js)
  #detach = null;
  #connect; // (addr, events) => link: node:net, Deno.connect, the bridge or the user's
  #links = new Map(); // conn -> { write, close }
  #pending = new Map(); // operation id -> { resolve, reject }
  #timer = null;
  #armedAt = undefined;
  #dead = null;
  #draining = false;
  #onDelivery;
  #onOffsets;

  /**
   * @param {object} options client options (nameServer, instanceName, …)
   * @param {(delivery: object) => void} [onDelivery] gets consumer deliveries
   * @param {(snapshot: { consumer: number, bytes: Uint8Array }) => void} [onOffsets]
   *   gets broadcasting consumers' offset snapshots, to store
   */
  constructor(options, onDelivery, onOffsets) {
    const facts = hostFacts();
    this.#onDelivery = onDelivery;
    this.#onOffsets = onOffsets;
    const core = { ...options };
    for (const k of TRANSPORT_KEYS) delete core[k];
    this.#connect = selectTransport(options).connect;
    this.#wasm = liveInstance();
    try {
      this.#client = new this.#wasm.WasmClient({
        ip: facts.ip,
        pid: facts.pid,
        ...core,
        now: now(),
        wallMs: Date.now(),
      });
    } catch (e) {
      throw this.#translate(e);
    }
    this.#detach = this.#wasm.attach((error) => this.#fail(error));
  }

  get clientId() {
    return this.#client.clientId;
  }

  get closed() {
    return this.#dead !== null || this.#client.isClosed();
  }

  /** Runs `command(client, now)` and drains; returns what it returned. */
  run(command) {
    if (this.#dead) throw this.#dead;
    let out;
    try {
      out = command(this.#client, now());
    } catch (e) {
      throw this.#translate(e);
    }
    this.#drain();
    return out;
  }

  /**
   * Runs `command(client, now)`, which returns an operation id, and
   * resolves with that operation's result (rejects with an RmqError).
   */
  operation(command) {
    if (this.#dead) return Promise.reject(this.#dead);
    let id;
    try {
      id = command(this.#client, now());
    } catch (e) {
      return Promise.reject(this.#translate(e));
    }
    const promise = new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    this.#drain();
    return promise;
  }

  /** An input from the outside world (socket, timer), then the drain. */
  #input(feed) {
    if (this.#dead) return;
    try {
      feed(this.#client, now());
    } catch (e) {
      // Inputs are built here from valid values: any throw is a trap.
      this.#translate(e);
      return;
    }
    this.#drain();
  }

  #drain() {
    if (this.#dead || this.#draining) return;
    this.#draining = true;
    try {
      const client = this.#client;
      // One at a time: a blocked write is fed back before the next transmit.
      let t;
      while ((t = client.pollTransmit()) !== undefined) this.#transmit(t);
      let c;
      while ((c = client.pollCompletion()) !== undefined) this.#settle(c);
      let d;
      while ((d = client.pollDelivery()) !== undefined) {
        const delivery = d;
        if (this.#onDelivery) queueMicrotask(() => this.#onDelivery(delivery));
      }
      let s;
      while ((s = client.pollOffsetSnapshot()) !== undefined) {
        const snapshot = s;
        if (this.#onOffsets) queueMicrotask(() => this.#onOffsets(snapshot));
      }
      if (client.isClosed()) {
        this.#stop();
      } else {
        this.#arm(client.pollTimeout());
      }
    } catch (e) {
      this.#translate(e);
    } finally {
      this.#draining = false;
    }
  }

  #transmit(t) {
    switch (t.kind) {
      case 'connect': {
        const conn = t.conn;
        const link = this.#connect(t.addr, {
          onOpen: () => this.#input((c, n) => c.connected(conn, n)),
          onData: (bytes) => this.#input((c, n) => c.input(conn, bytes, n)),
          onDrain: () => this.#input((c, n) => c.writable(conn, n)),
          onClose: (reason) => {
            if (this.#links.get(conn) !== link) return; // the core closed it
            this.#links.delete(conn);
            this.#input((c, n) => c.closed(conn, reason, n));
          },
        });
        this.#links.set(conn, link);
        break;
      }
      case 'write': {
        // Node takes every byte, buffering what the socket does not; once
        // its buffer is over the high-water mark, the core holds further
        // writes (bounded by its write backlog) until 'drain'.
        const link = this.#links.get(t.conn);
        if (link && !link.write(t.bytes)) {
          this.#client.writeBlocked(t.conn, EMPTY, now());
        }
        break;
      }
      case 'close': {
        const link = this.#links.get(t.conn);
        this.#links.delete(t.conn);
        link?.close();
        break;
      }
    }
  }

  #settle(c) {
    const waiter = this.#pending.get(c.id);
    if (!waiter) return;
    this.#pending.delete(c.id);
    if (c.ok) waiter.resolve(c.result);
    else waiter.reject(fromCompletion(c.error));
  }

  #arm(at) {
    if (at === undefined) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      this.#armedAt = undefined;
      return;
    }
    if (this.#timer && this.#armedAt === at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#armedAt = at;
    const delay = Math.max(0, Math.ceil(at - now()));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#armedAt = undefined;
      this.#input((c, n) => c.timeout(Math.max(n, at)));
    }, delay);
  }

  /** Closed: no timer, no socket. */
  #stop() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
    this.#detach?.();
    this.#detach = null;
  }

  /** The instance trapped (this client's call or another's): all fails. */
  #fail(error) {
    if (this.#dead) return;
    this.#dead = error;
    this.#stop();
    for (const w of this.#pending.values()) w.reject(error);
    this.#pending.clear();
  }

  /**
   * A thrown value as an RmqError. A WebAssembly.RuntimeError is a trap
   * (a panic under panic=abort): the instance is dead, every waiter of
   * every client in it fails with one INTERNAL error, and new clients get
   * a fresh instance (wasm.js `trapped`).
   */
  #translate(e) {
    if (isTrap(e)) {
      const error = trapped(this.#wasm, e);
      this.#fail(error);
      return this.#dead;
    }
    return fromThrown(e);
  }
}
