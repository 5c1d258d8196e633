import { Host } from './host.js';
import { RmqError } from './errors.js';
import { clientOptions } from './options.js';

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
];

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
 * concurrency (handlers at once, default 20), maxReconsumeTimes, …
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

  constructor(options) {
    this.#client = clientOptions(options);
    this.#consumer = {};
    for (const k of CONSUMER_KEYS) if (options[k] !== undefined) this.#consumer[k] = options[k];
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? 20));
    this.#consumer.concurrency = this.#concurrency;
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
    if (this.#state === 'running') return;
    if (this.#state === 'stopped') throw new RmqError('SHUT_DOWN', 'client is shut down');
    if (this.#subscriptions.length === 0) {
      throw new RmqError('CONFIG', 'no subscription: call subscribe() first');
    }
    const host = new Host(this.#client, (d) => this.#deliver(d));
    this.#host = host;
    host.run((c, now) => c.addConsumer(this.#consumer, this.#subscriptions, now, Date.now()));
    this.#state = 'running';
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
   * commits offsets, unregisters and closes every connection.
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
    await this.#host.operation((c, now) => c.shutdown(now));
  }
}
