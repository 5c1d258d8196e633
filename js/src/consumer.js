import { Host } from './host.js';
import { RmqError } from './errors.js';
import { clientOptions } from './options.js';
import { defaultOffsetStore } from './offset-store.js';
import { shutdownHost } from './producer.js';

/** What a handler returns. Anything else (or a throw) counts as Retry. */
export const ConsumeResult = Object.freeze({
  Success: 'success',
  Retry: 'retry',
  /** Java's names. */
  CONSUME_SUCCESS: 'success',
  RECONSUME_LATER: 'retry',
});

const CONSUMER_KEYS = [
  'group',
  'model',
  'consumeFrom',
  'batchSize',
  'pullBatchSize',
  'maxReconsumeTimes',
  'consumeTimeoutMs',
  'orderly',
  'pullSuspendMs',
  'rebalanceIntervalMs',
  'persistIntervalMs',
];

/** The consumer options the wasm binding takes, from the user's. */
export function consumerOptions(options) {
  const out = {};
  for (const k of CONSUMER_KEYS) if (options[k] !== undefined) out[k] = options[k];
  return out;
}

/**
 * Client options of a consumer: a broadcasting consumer keeps Java's
 * DEFAULT instance unless named (a stable client id, so a stable key for
 * its offsets), as the Rust host and Java do.
 */
export function consumerClientOptions(options) {
  const client = clientOptions(options);
  if (isBroadcasting(options) && client.instanceName === undefined) client.instanceName = 'DEFAULT';
  return client;
}

function isBroadcasting(options) {
  return options.model === 'broadcasting' || options.model === 'BROADCASTING';
}

/** Checks an offset store: `{ load(key), save(key, bytes) }`. */
function offsetStoreOf(options) {
  const store = options.offsetStore ?? defaultOffsetStore;
  if (typeof store?.load !== 'function' || typeof store?.save !== 'function') {
    throw new RmqError('INVALID_ARGUMENT', 'offsetStore must have load(key) and save(key, bytes)');
  }
  return store;
}

/** How long shutdown() waits for handlers in flight. */
const SHUTDOWN_HANDLER_WAIT_MS = 10_000;

function normalize(result) {
  if (result === 'success' || result === true) return 'success';
  if (result && typeof result === 'object' && Number.isInteger(result.acked)) {
    return { acked: result.acked, delayLevel: result.delayLevel ?? 0 };
  }
  return 'retry';
}

/**
 * Consumes messages pushed to handlers, in a consumer group shared with
 * Java and Go consumers.
 *
 *   const c = new PushConsumer({ nameServer, group });
 *   c.subscribe('test', 'TagA || TagB', async (msgs) => ConsumeResult.Success);
 *   await c.start();
 *   await c.shutdown();
 *
 * Options: nameServer, group, model ('clustering' | 'broadcasting'),
 * consumeFrom ('last' | 'first' | 'halfHourAgo' | Unix ms), batchSize,
 * concurrency (handlers at once, default 20), maxReconsumeTimes, orderly
 * (each queue locked, one batch at a time in queue order), offsetStore
 * (broadcasting: where offsets are kept; default in memory), …
 */
export class PushConsumer {
  #client;
  #consumer;
  #subscriptions = [];
  #handlers = new Map();
  #host = null;
  #state = 'idle';
  #concurrency;
  #active = 0;
  #queue = [];
  #idle = [];
  #index = 0;
  #store = null;
  #storeKey = '';
  #saving = Promise.resolve();
  #saveError = null;

  constructor(options) {
    this.#client = consumerClientOptions(options);
    this.#consumer = consumerOptions(options);
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? 20));
    this.#consumer.concurrency = this.#concurrency;
    if (isBroadcasting(options)) this.#store = offsetStoreOf(options);
  }

  /** This consumer's client id (`ip@instance`), once started. */
  get clientId() {
    return this.#host?.clientId;
  }

  /**
   * Subscribes `handler(messages)` to `topic` (before start). `expression`:
   * a tag expression ('*', 'TagA || TagB') or { sql: '…' } for SQL92.
   */
  subscribe(topic, expression, handler) {
    if (typeof expression === 'function') {
      handler = expression;
      expression = '*';
    }
    if (this.#state !== 'idle') throw new RmqError('CONFIG', 'subscribe before start()');
    if (typeof topic !== 'string' || topic === '') {
      throw new RmqError('INVALID_ARGUMENT', 'topic must be a non-empty string');
    }
    if (typeof handler !== 'function') {
      throw new RmqError('INVALID_ARGUMENT', 'handler must be a function');
    }
    const sub =
      expression && typeof expression === 'object'
        ? { topic, expression: String(expression.sql), sql: true }
        : { topic, expression: expression ?? '*', sql: false };
    this.#subscriptions = this.#subscriptions.filter((s) => s.topic !== topic);
    this.#subscriptions.push(sub);
    this.#handlers.set(topic, handler);
  }

  /** Joins the group, rebalances, pulls and calls the handlers. */
  async start() {
    if (this.#state === 'running' || this.#state === 'starting') return;
    if (this.#state === 'stopped') throw new RmqError('SHUT_DOWN', 'client is shut down');
    if (this.#subscriptions.length === 0) {
      throw new RmqError('CONFIG', 'no subscription: call subscribe() first');
    }
    this.#state = 'starting';
    try {
      const host = new Host(
        this.#client,
        (d) => this.#deliver(d),
        (s) => this.#storeOffsets(s),
      );
      this.#host = host;
      const config = { ...this.#consumer };
      if (this.#store) {
        this.#storeKey = `${host.clientId}/${this.#consumer.group}`;
        let stored;
        try {
          stored = await this.#store.load(this.#storeKey);
        } catch (e) {
          await host.operation((c, now) => c.shutdown(now));
          throw e;
        }
        if (stored !== undefined) config.storedOffsets = stored;
        if (this.#state !== 'starting') {
          // shutdown() came while the offsets loaded: it stays shut down.
          await host.operation((c, now) => c.shutdown(now)).catch(() => {});
          throw new RmqError('SHUT_DOWN', 'client is shut down');
        }
      }
      this.#index = host.run((c, now) => c.addConsumer(config, this.#subscriptions, now, Date.now()));
    } catch (e) {
      if (this.#state === 'starting') this.#state = 'idle';
      this.#host = null;
      throw e;
    }
    this.#state = 'running';
  }

  /** Broadcasting: a snapshot of this consumer's offsets, saved in order. */
  #storeOffsets(snapshot) {
    if (!this.#store) return;
    const bytes = snapshot.bytes;
    this.#saving = this.#saving
      .then(() => this.#store.save(this.#storeKey, bytes))
      .catch((e) => {
        this.#saveError = e;
      });
  }

  /**
   * The queues this consumer owns now, by the group's last rebalance
   * (empty before the first and after shutdown).
   */
  assignedQueues() {
    if (this.#state !== 'running' || this.#host.closed) return [];
    return this.#host.run((c) => c.ownedQueues(this.#index));
  }

  #deliver(delivery) {
    this.#queue.push(delivery);
    this.#pump();
  }

  #pump() {
    while (this.#active < this.#concurrency && this.#queue.length > 0) {
      const d = this.#queue.shift();
      if (this.#state !== 'running') {
        // Shutting down: the core re-delivers what was never consumed.
        continue;
      }
      this.#active++;
      this.#run(d).finally(() => {
        this.#active--;
        if (this.#active === 0) for (const wake of this.#idle.splice(0)) wake();
        this.#pump();
      });
    }
  }

  async #run(d) {
    const topic = d.messages[0]?.topic;
    const handler = this.#handlers.get(topic) ?? this.#handlers.values().next().value;
    let result;
    try {
      result = normalize(await handler(d.messages));
    } catch {
      result = 'retry';
    }
    try {
      this.#host.run((c, now) => c.consumed(d.consumer, d.id, result, now));
    } catch {
      // The client is gone; nothing to report to.
    }
  }

  /**
   * Stops handing out messages, waits (bounded) for handlers in flight,
   * commits offsets, unregisters and closes every connection. A consumer
   * whose WebAssembly instance trapped is already dead: after the wait
   * for its handlers, shutting it down succeeds (no offsets to commit).
   */
  async shutdown() {
    if (this.#state !== 'running') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopped';
    this.#queue.length = 0;
    if (this.#active > 0) {
      let timer;
      await Promise.race([
        new Promise((resolve) => this.#idle.push(resolve)),
        new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_HANDLER_WAIT_MS))),
      ]);
      clearTimeout(timer);
    }
    await shutdownHost(this.#host);
    // The final snapshot was queued by the shutdown's drain.
    await new Promise((resolve) => queueMicrotask(resolve));
    await this.#saving;
    if (this.#saveError) {
      const e = new RmqError('CONFIG', `cannot store offsets: ${this.#saveError.message}`);
      e.cause = this.#saveError;
      throw e;
    }
  }
}
