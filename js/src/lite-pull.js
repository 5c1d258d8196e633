// The lite pull consumer: the application asks for messages (poll, or
// `for await`); the core pulls ahead in the background within the push
// consumer's flow-control bounds (the same role the Rust
// `LitePullConsumer` drives: a consumer announced CONSUME_ACTIVELY, with
// `assign` for fixed queues, seek, pause and resume). Each delivery the
// core hands out holds `batchSize` messages (default 1); a delivery is
// committed (reported consumed) when the application commits it.
import { Host } from './host.js';
import { RmqError } from './errors.js';
import { consumerClientOptions, consumerOptions } from './consumer.js';
import { shutdownHost } from './producer.js';
import { liveInstance } from './wasm.js';

/** How long one internal wait lasts before the iterator looks again. */
const ITERATOR_WAIT_MS = 1000;

/**
 * How long seek() waits for an assigned queue to become owned: the core
 * takes it once the topic's route came from the name server.
 */
const SEEK_OWNERSHIP_WAIT_MS = 10_000;

const queueKey = (q) => `${q.topic}\u0000${q.brokerName}\u0000${q.queueId}`;

function checkQueue(q) {
  if (
    q === null ||
    typeof q !== 'object' ||
    typeof q.topic !== 'string' ||
    typeof q.brokerName !== 'string' ||
    !Number.isInteger(q.queueId)
  ) {
    throw new RmqError('INVALID_ARGUMENT', 'a queue is { topic, brokerName, queueId }');
  }
  return { topic: q.topic, brokerName: q.brokerName, queueId: q.queueId };
}

function checkQueues(queues) {
  if (!Array.isArray(queues)) throw new RmqError('INVALID_ARGUMENT', 'queues must be an array');
  return queues.map(checkQueue);
}

/**
 * A lite pull consumer (Java's DefaultLitePullConsumer).
 *
 *   const c = new LitePullConsumer({ nameServer, group, consumeFrom: 'first' });
 *   c.subscribe('test', 'TagA');          // or c.assign([queue])
 *   await c.start();
 *   for await (const msg of c) { … }      // or: const msgs = await c.poll(1000)
 *   await c.shutdown();
 *
 * With `autoCommit` (the default), what a poll returned is committed by
 * the next poll (and what the loop took, by the next iteration) and at
 * shutdown; with `autoCommit: false`, only by commit().
 */
export class LitePullConsumer {
  #client;
  #consumer;
  #autoCommit;
  #subscriptions = [];
  #assigned = null;
  #host = null;
  #index = 0;
  #state = 'idle';
  /** Deliveries pulled ahead: { id, queue, messages }. */
  #ready = [];
  /** Delivery ids handed to the application, not yet committed. */
  #handedOut = [];
  /** Per queue: deliveries up to this id predate a seek (dropped). */
  #seekFloor = new Map();
  #waiters = new Set();
  /** Stops telling this consumer that its instance trapped. */
  #detach = null;

  constructor(options) {
    this.#client = consumerClientOptions(options);
    this.#consumer = { ...consumerOptions(options), consumeType: 'pull' };
    if (options.orderly) throw new RmqError('CONFIG', 'a lite pull consumer is not orderly');
    this.#autoCommit = options.autoCommit ?? true;
  }

  /** This consumer's client id (`ip@instance`), once started. */
  get clientId() {
    return this.#host?.clientId;
  }

  /**
   * Subscribes to `topic` with the group's rebalance (before start).
   * `expression`: a tag expression ('*', 'TagA || TagB') or { sql }.
   */
  subscribe(topic, expression = '*') {
    this.#beforeStart();
    if (this.#assigned) throw new RmqError('CONFIG', 'subscribe() and assign() are exclusive');
    if (typeof topic !== 'string' || topic === '') {
      throw new RmqError('INVALID_ARGUMENT', 'topic must be a non-empty string');
    }
    const sub =
      expression && typeof expression === 'object'
        ? { topic, expression: String(expression.sql), sql: true }
        : { topic, expression: expression ?? '*', sql: false };
    this.#subscriptions = this.#subscriptions.filter((s) => s.topic !== topic);
    this.#subscriptions.push(sub);
  }

  /**
   * Consumes exactly `queues` ({ topic, brokerName, queueId }, e.g. a
   * SendResult's `queue`), without a group rebalance (before start).
   * Offsets still commit to the group on the broker.
   */
  assign(queues) {
    this.#beforeStart();
    if (this.#subscriptions.length > 0) {
      throw new RmqError('CONFIG', 'subscribe() and assign() are exclusive');
    }
    const qs = checkQueues(queues);
    if (qs.length === 0) throw new RmqError('CONFIG', 'no queue to assign');
    this.#assigned = qs;
  }

  #beforeStart() {
    if (this.#state !== 'idle') throw new RmqError('CONFIG', 'subscribe() and assign() come before start()');
  }

  /** Starts pulling in the background. */
  async start() {
    if (this.#state === 'running') return;
    if (this.#state === 'stopped') throw new RmqError('SHUT_DOWN', 'client is shut down');
    if (this.#subscriptions.length === 0 && !this.#assigned) {
      throw new RmqError('CONFIG', 'call subscribe() or assign() first');
    }
    const host = new Host(this.#client, (d) => this.#deliver(d));
    const config = { ...this.#consumer };
    if (this.#assigned) config.assign = this.#assigned;
    try {
      this.#index = host.run((c, now) => c.addConsumer(config, this.#subscriptions, now, Date.now()));
    } catch (e) {
      await host.operation((c, now) => c.shutdown(now)).catch(() => {});
      throw e;
    }
    this.#host = host;
    this.#state = 'running';
    // The instance the host was just made in (still the live one): if it
    // traps, a waiting poll or loop wakes now to throw SHUT_DOWN.
    this.#detach = liveInstance().attach(() => this.#wakeAll());
  }

  #wakeAll() {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  #running() {
    if (this.#state === 'idle') throw new RmqError('NOT_STARTED', 'client not started: call start() first');
    if (this.#state === 'stopped' || this.#host.closed) throw new RmqError('SHUT_DOWN', 'client is shut down');
    return this.#host;
  }

  #deliver(d) {
    if (this.#state !== 'running') return;
    const floor = this.#seekFloor.get(queueKey(d.queue));
    if (floor !== undefined && d.id <= floor) return; // pulled before a seek
    this.#ready.push(d);
    this.#wakeAll();
  }

  /** Resolves when a delivery is ready, shutdown began, or `ms` passed. */
  #wait(ms) {
    if (this.#ready.length > 0 || this.#state !== 'running') return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#waiters.add(wake);
    });
  }

  /** Reports deliveries as consumed: their offsets may be committed. */
  #ack(ids) {
    if (ids.length === 0) return;
    const host = this.#running();
    host.run((c, now) => {
      for (const id of ids) c.consumed(this.#index, id, 'success', now);
    });
  }

  /**
   * Messages pulled so far, waiting up to `timeoutMs` (default 5000) for
   * the first; [] when none came. With autoCommit, what the previous poll
   * returned is committed now.
   */
  async poll(timeoutMs = 5000) {
    this.#running();
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new RmqError('INVALID_ARGUMENT', 'timeoutMs must be a non-negative number');
    }
    if (this.#autoCommit) this.#ack(this.#handedOut.splice(0));
    await this.#wait(timeoutMs);
    if (this.#state !== 'running') return [];
    this.#running(); // the instance trapped during the wait: SHUT_DOWN
    const out = [];
    for (const d of this.#ready.splice(0)) {
      this.#handedOut.push(d.id);
      out.push(...d.messages);
    }
    return out;
  }

  /**
   * Yields messages one by one until shutdown. Deliveries are taken one at
   * a time, so with autoCommit what the loop took is committed when it
   * asks for the next one (and at shutdown), and commit() after leaving
   * the loop commits exactly what it saw. Leaving the loop (break) does
   * not shut the consumer down. When the client dies under it (its
   * WebAssembly instance trapped), the loop throws SHUT_DOWN.
   */
  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this.#state !== 'running') return;
      // A client that died under the loop (its instance trapped) ends it
      // with SHUT_DOWN instead of waiting for ever.
      this.#running();
      if (this.#autoCommit) this.#ack(this.#handedOut.splice(0));
      await this.#wait(ITERATOR_WAIT_MS);
      if (this.#state !== 'running') return;
      const d = this.#ready.shift();
      if (d === undefined) continue;
      this.#handedOut.push(d.id);
      for (const m of d.messages) yield m;
    }
  }

  /** Commits everything polls (and the iterator) returned so far. */
  async commit() {
    this.#ack(this.#handedOut.splice(0));
  }

  /**
   * The next message of `queue` is the one at `offset`; what was pulled
   * ahead of it and not yet returned is dropped. The consumer must own
   * the queue: allocated by the last rebalance (else CONFIG), or assigned
   * (right after start(), seek waits up to 10 s for the topic's route).
   */
  async seek(queue, offset) {
    let host = this.#running();
    const q = checkQueue(queue);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RmqError('INVALID_ARGUMENT', 'offset must be a non-negative integer');
    }
    const key = queueKey(q);
    if (this.#assigned?.some((a) => queueKey(a) === key)) {
      const deadline = Date.now() + SEEK_OWNERSHIP_WAIT_MS;
      const owned = () => host.run((c) => c.ownedQueues(this.#index)).some((o) => queueKey(o) === key);
      while (!owned() && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        host = this.#running();
      }
    }
    const floor = host.run((c, now) => c.seek(this.#index, q, offset, now));
    this.#seekFloor.set(key, floor);
    this.#ready = this.#ready.filter((d) => queueKey(d.queue) !== key);
  }

  /** The first offset still stored in `queue`. */
  async minOffset(queue) {
    return this.#queueOffset('min', queue, 0);
  }

  /** The offset the next message written to `queue` will get. */
  async maxOffset(queue) {
    return this.#queueOffset('max', queue, 0);
  }

  /** The offset of the first message of `queue` stored at or after `timestampMs`. */
  async offsetForTimestamp(queue, timestampMs) {
    if (!Number.isFinite(timestampMs)) {
      throw new RmqError('INVALID_ARGUMENT', 'timestampMs must be a Unix time in ms');
    }
    return this.#queueOffset('timestamp', queue, timestampMs);
  }

  /** Seeks `queue` to its first stored offset. */
  async seekToBegin(queue) {
    await this.seek(queue, await this.minOffset(queue));
  }

  /** Seeks `queue` to its end: only messages written from now on. */
  async seekToEnd(queue) {
    await this.seek(queue, await this.maxOffset(queue));
  }

  async #queueOffset(kind, queue, timestamp) {
    const host = this.#running();
    const q = checkQueue(queue);
    const r = await host.operation((c, now) => c.queueOffset(kind, q, timestamp, now));
    return r.offset;
  }

  /** Stops pulling `queues` until resume(). */
  pause(queues) {
    const qs = checkQueues(queues);
    this.#running().run((c, now) => c.pause(this.#index, qs, now));
  }

  /** Pulls `queues` again. */
  resume(queues) {
    const qs = checkQueues(queues);
    this.#running().run((c, now) => c.resume(this.#index, qs, now));
  }

  /** The queues this consumer owns now (assigned, or by the last rebalance). */
  assignment() {
    if (this.#state !== 'running' || this.#host.closed) return [];
    return this.#host.run((c) => c.ownedQueues(this.#index));
  }

  /**
   * The offset that would be committed for `queue` now (where the group
   * resumes), or undefined when not known yet.
   */
  committedOffset(queue) {
    const q = checkQueue(queue);
    return this.#running().run((c) => c.committedOffset(this.#index, q));
  }

  /**
   * Commits (with autoCommit), stops pulling, commits offsets to the
   * broker, unregisters and closes every connection. Iterators end. A
   * consumer whose WebAssembly instance trapped is already dead: shutting
   * it down succeeds at once.
   */
  async shutdown() {
    if (this.#state !== 'running') {
      this.#state = 'stopped';
      return;
    }
    if (this.#autoCommit && !this.#host.closed) this.#ack(this.#handedOut.splice(0));
    this.#state = 'stopped';
    this.#ready.length = 0;
    this.#detach?.();
    this.#detach = null;
    this.#wakeAll();
    await shutdownHost(this.#host);
  }
}
