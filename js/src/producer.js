import { Host } from './host.js';
import { RmqError } from './errors.js';
import { clientOptions } from './options.js';

const PRODUCER_KEYS = ['group', 'retries', 'sendTimeoutMs', 'compressThreshold', 'maxMessageSize'];

/**
 * Sends messages.
 *
 *   const p = new Producer({ nameServer: '127.0.0.1:9876', group: 'test' });
 *   await p.start();
 *   const r = await p.send({ topic: 'test', tag: 'TagA', keys: ['k1'], body: 'Hello' });
 *   await p.shutdown();
 */
export class Producer {
  #client;
  #producer;
  #host = null;
  #state = 'idle';

  constructor(options) {
    this.#client = clientOptions(options);
    this.#producer = {};
    for (const k of PRODUCER_KEYS) if (options[k] !== undefined) this.#producer[k] = options[k];
  }

  /** This producer's client id (`ip@instance`), once started. */
  get clientId() {
    return this.#host?.clientId;
  }

  /** Starts the client. Connections open on first use. */
  async start() {
    if (this.#state === 'running') return;
    if (this.#state === 'stopped') throw new RmqError('SHUT_DOWN', 'client is shut down');
    const host = new Host(this.#client);
    this.#index = host.run((c, now) => c.addProducer(this.#producer, now));
    this.#host = host;
    this.#state = 'running';
  }

  #index = 0;

  #running() {
    if (this.#state === 'idle') throw new RmqError('NOT_STARTED', 'client not started: call start() first');
    if (this.#state === 'stopped' || this.#host.closed) throw new RmqError('SHUT_DOWN', 'client is shut down');
    return this.#host;
  }

  /**
   * Sends one message and waits for the broker's acknowledgement.
   * `message`: { topic, body: string|Uint8Array, tag?|tags?, keys?: string[],
   * properties?: {[name]: string}, delayLevel?, deliverAt?, flag? }.
   * Resolves with { status: 'SEND_OK', msgId, offsetMsgId, queue, queueOffset }.
   */
  async send(message, options) {
    const host = this.#running();
    return host.operation((c, now) => c.send(this.#index, message, now, Date.now(), options ?? {}));
  }

  /**
   * Sends to the queue `shardingKey` hashes to (the queue Java's
   * SelectMessageQueueByHash picks), so messages of one key stay in order.
   */
  async sendOrdered(message, shardingKey, options) {
    if (typeof shardingKey !== 'string') {
      throw new RmqError('INVALID_ARGUMENT', 'shardingKey must be a string');
    }
    return this.send(message, { ...options, shardingKey });
  }

  /** Writes one message without waiting for an acknowledgement. */
  async sendOneway(message) {
    const host = this.#running();
    return host.operation((c, now) =>
      c.send(this.#index, message, now, Date.now(), { oneway: true }),
    );
  }

  /**
   * Sends messages of one topic as one request; the broker stores them in
   * order, on one queue. Resolves with one SendResult whose `msgId` and
   * `offsetMsgId` are comma-separated (as Java's), plus `msgIds` (an
   * array, in message order); `queueOffset` is the first message's.
   * `options.queue` sends the batch to exactly that queue.
   */
  async sendBatch(messages, options) {
    const host = this.#running();
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new RmqError('INVALID_ARGUMENT', 'a batch is a non-empty array of messages');
    }
    const r = await host.operation((c, now) =>
      c.sendBatch(this.#index, messages, now, Date.now(), options ?? {}),
    );
    r.msgIds = r.msgId.split(',');
    return r;
  }

  /**
   * Sends to exactly `queue` ({ topic, brokerName, queueId }, e.g. a
   * SendResult's `queue`), with no retry on another queue.
   */
  async sendToQueue(message, queue, options) {
    if (queue === null || typeof queue !== 'object') {
      throw new RmqError('INVALID_ARGUMENT', 'queue must be { topic, brokerName, queueId }');
    }
    return this.send(message, { ...options, queue });
  }

  /**
   * Unregisters from every broker and closes every connection. A producer
   * whose WebAssembly instance trapped is already dead (its sockets and
   * timer gone): shutting it down succeeds at once.
   */
  async shutdown() {
    if (this.#state !== 'running') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopped';
    await shutdownHost(this.#host);
  }
}

/**
 * Shuts `host`'s client down (the core unregisters and closes), resolving
 * once it is closed. A client already closed, or whose WebAssembly
 * instance trapped (before or during the shutdown), is already dead, with
 * no socket or timer left: that resolves too, since there is nothing left
 * to shut down. Any other failure rejects.
 */
export async function shutdownHost(host) {
  if (host.closed) return;
  try {
    await host.operation((c, now) => c.shutdown(now));
  } catch (e) {
    if (e?.code === 'INTERNAL' && host.closed) return;
    throw e;
  }
}
