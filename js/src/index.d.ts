// Hand-written typings of the public API (the package ships plain ESM, no build step).

/** Options every client takes. */
export interface ClientOptions {
  /** Name servers, `host:port`, `;`-separated (or an array). Default: `NAMESRV_ADDR`. */
  nameServer?: string | string[];
  /** The group (Java producerGroup / consumerGroup). */
  group: string;
  /** The instance name in the client id (default `pid#nanos`). */
  instanceName?: string;
  /** Deadline of an ordinary request, ms (default 3000). */
  requestTimeoutMs?: number;
  /** Heartbeat period, ms (default 30000). */
  heartbeatIntervalMs?: number;
  /** Route refresh period, ms (default 30000). */
  routeRefreshIntervalMs?: number;
  /** ACL 1.0 credentials: every request is signed. */
  accessKey?: string;
  secretKey?: string;
  securityToken?: string;
  /**
   * Connections through rmq-bridge (`ws://host:port` or `wss://…`): one
   * WebSocket per TCP connection. Required where there is no TCP (browsers,
   * edge runtimes); without it Node uses `node:net` and Deno `Deno.connect`.
   */
  bridge?: string;
  /** The bridge's token (sent as the `token` query parameter). */
  token?: string;
  /**
   * The WebSocket class `bridge` uses instead of `globalThis.WebSocket`
   * (only with `bridge`). Node 18 and 20 have no global WebSocket: pass the
   * `ws` package's (`import WebSocket from 'ws'`, then
   * `webSocket: WebSocket`; install `ws` yourself, this package has no
   * dependencies). Anything else that is not a constructor fails `start()`
   * with `CONFIG`.
   */
  webSocket?: WebSocketClass;
  /** Your own connections; wins over `bridge` and the runtime's TCP. */
  transport?: Transport;
}

/**
 * A WHATWG-compatible WebSocket class for the `webSocket` option: the
 * browser's, Deno's and Node 22's `WebSocket`, or the `ws` package's
 * default export. Only this much of it is used.
 */
export interface WebSocketClass {
  new (url: string): BridgeWebSocket;
}

/** What the bridge uses of a WebSocket (`ws`'s implements it as browsers do). */
export interface BridgeWebSocket {
  /** Set to `'arraybuffer'`: binary messages arrive as `ArrayBuffer`s. */
  binaryType: string;
  /** Bytes queued but not yet sent (writes wait while it is high). */
  readonly bufferedAmount: number;
  /** The event handler attributes, set by the bridge transport. */
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/**
 * Opens connections for a client (like KafkaJS's `socketFactory`). `open`
 * gets `host:port` (`[v6]:port`) — a name server or a broker — and
 * resolves with the connection, or rejects when it cannot connect (within
 * 3 s, else the client gives up on it). A Deno.Conn and a Cloudflare
 * `connect()` socket already are a `TransportConnection`; in Node, wrap a socket with
 * `Duplex.toWeb(socket)` plus `close: () => socket.destroy()`.
 */
export interface Transport {
  open(addr: string): TransportConnection | Promise<TransportConnection>;
}

/**
 * One connection: bytes both ways as `Uint8Array` chunks, passed through
 * without copies. The end of `readable` is the peer closing; an error in
 * `readable` or a rejected write is a connection error; the client calls
 * `close()` when it is done (after writing what it wrote).
 */
export interface TransportConnection {
  readable: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  /**
   * Closes the connection. What it returns is ignored (a returned
   * promise's rejection too), so `() => socket.destroy()` fits.
   */
  close(): void;
}

export interface ProducerOptions extends ClientOptions {
  /** Retries of a failed synchronous send (default 2). */
  retries?: number;
  /** Whole-send deadline, retries included, ms (default 3000). */
  sendTimeoutMs?: number;
  /** Bodies larger than this are compressed (default 4096 bytes). */
  compressThreshold?: number;
  /** Largest message accepted, bytes (default 4 MiB). */
  maxMessageSize?: number;
}

export interface Message {
  topic: string;
  /** A string is sent as UTF-8. */
  body: string | Uint8Array;
  /** The tag (`tags` is accepted as well). */
  tag?: string;
  tags?: string;
  /** Keys; each must not contain a space (keys are joined by spaces on the wire). */
  keys?: string | string[];
  /** User properties. */
  properties?: Record<string, string>;
  /** Delay level 1..18 (1 s .. 2 h). */
  delayLevel?: number;
  /** Delivery time in Unix ms (5.x timer messages). */
  deliverAt?: number;
  flag?: number;
}

export interface MessageQueue {
  topic: string;
  brokerName: string;
  queueId: number;
}

export interface SendResult {
  status: 'SEND_OK' | 'FLUSH_DISK_TIMEOUT' | 'FLUSH_SLAVE_TIMEOUT' | 'SLAVE_NOT_AVAILABLE';
  /** The client-generated unique id (UNIQ_KEY). */
  msgId: string;
  /** The broker's offset message id. */
  offsetMsgId: string;
  queue: MessageQueue;
  queueOffset: number;
  transactionId?: string;
  regionId?: string;
}

/** A oneway send's result: written to the connection, never acknowledged. */
export interface OnewayResult {
  status: 'WRITTEN';
  /** The client-generated unique id (UNIQ_KEY). */
  msgId: string;
  /** The queue it was written to. */
  queue: MessageQueue;
}

export interface SendOptions {
  /** Deadline of this send, ms (default: the producer's sendTimeoutMs). */
  timeoutMs?: number;
}

export interface BatchOptions extends SendOptions {
  /** Send the batch to exactly this queue (no retry elsewhere). */
  queue?: MessageQueue;
}

/** A batch's result: one request, so one status and one queue. */
export interface BatchSendResult extends SendResult {
  /** The messages' unique ids, comma-separated (as Java's). */
  msgId: string;
  /** The broker's offset message ids, comma-separated. */
  offsetMsgId: string;
  /** The messages' unique ids, in message order. */
  msgIds: string[];
  /** The first message's offset; the others follow it. */
  queueOffset: number;
}

export class Producer {
  constructor(options: ProducerOptions);
  /** `ip@instance`, once started. */
  readonly clientId: string | undefined;
  start(): Promise<void>;
  send(message: Message, options?: SendOptions): Promise<SendResult>;
  /** Sends to the queue the key hashes to (Java's SelectMessageQueueByHash): per-key order. */
  sendOrdered(message: Message, shardingKey: string, options?: SendOptions): Promise<SendResult>;
  /** Written without an acknowledgement: resolves with { status: 'WRITTEN', msgId, queue }. */
  sendOneway(message: Message): Promise<OnewayResult>;
  /**
   * Messages of one topic as one request, stored in order on one queue.
   * Each may have its own tag, keys and properties; no delay. Rejects
   * with INVALID_MESSAGE for mixed topics or an empty batch.
   */
  sendBatch(messages: Message[], options?: BatchOptions): Promise<BatchSendResult>;
  /** Sends to exactly `queue` (e.g. an earlier SendResult's `queue`); no retry elsewhere. */
  sendToQueue(message: Message, queue: MessageQueue, options?: SendOptions): Promise<SendResult>;
  /**
   * Unregisters and closes every connection. Resolves at once when already
   * shut down, never started, or dead after a trap (`INTERNAL`).
   */
  shutdown(): Promise<void>;
}

/** A message as a consumer receives it. */
export interface MessageExt {
  topic: string;
  tags?: string;
  keys: string[];
  /** Every property, user and system. */
  properties: Record<string, string>;
  body: Uint8Array;
  flag: number;
  /** The unique id (as the producer's SendResult.msgId), else the offset id. */
  msgId: string;
  offsetMsgId: string;
  brokerName: string;
  queueId: number;
  queueOffset: number;
  reconsumeTimes: number;
  bornTimestamp: number;
  storeTimestamp: number;
  bornHost: string;
  storeHost: string;
}

export declare const ConsumeResult: {
  readonly Success: 'success';
  readonly Retry: 'retry';
  readonly CONSUME_SUCCESS: 'success';
  readonly RECONSUME_LATER: 'retry';
};

/** One of `ConsumeResult`'s values: `'success'` or `'retry'`. */
export type ConsumeResult = (typeof ConsumeResult)[keyof typeof ConsumeResult];

/**
 * What a handler resolves with: success, retry (the broker's delay), or
 * the first `acked` messages succeeded and the rest retry at `delayLevel`.
 * A throw, or anything else, counts as retry.
 */
export type ConsumeOutcome = ConsumeResult | boolean | { acked: number; delayLevel?: number };

export type Handler = (messages: MessageExt[]) => ConsumeOutcome | Promise<ConsumeOutcome>;

/**
 * Where a broadcasting consumer keeps its offsets. In broadcasting mode
 * every member reads every queue, so offsets are the client's own, not
 * the group's on the broker (Java's LocalFileOffsetStore). The core hands
 * over a snapshot (Java's `offsets.json` bytes) every persist interval
 * while offsets move and once at shutdown; `save` replaces the previous
 * one, `load` returns the last at start (undefined: start at
 * `consumeFrom`). `key` is `<clientId>/<group>`. Either may be async;
 * saves run one at a time, in order, and shutdown() waits for the last.
 */
export interface OffsetStore {
  load(key: string): Uint8Array | string | undefined | Promise<Uint8Array | string | undefined>;
  save(key: string, bytes: Uint8Array): void | Promise<void>;
}

/** Snapshots kept in memory for the life of the process: the default store. */
export class MemoryOffsetStore implements OffsetStore {
  constructor();
  load(key: string): Uint8Array | undefined;
  save(key: string, bytes: Uint8Array): void;
}

/**
 * Snapshots kept in files, as the Rust host and Java do:
 * `<dir>/<clientId>/<group>/offsets.json`, written atomically (temporary
 * file, then rename). Node and Deno only. `dir` defaults to
 * `~/.rocketmq_offsets` (Java's default).
 */
export class FileOffsetStore implements OffsetStore {
  constructor(dir?: string);
  load(key: string): Promise<Uint8Array | undefined>;
  save(key: string, bytes: Uint8Array): Promise<void>;
}

export interface ConsumerOptions extends ClientOptions {
  /**
   * Default 'clustering' (the group shares the queues; offsets on the
   * broker). 'broadcasting': every member gets every message; offsets in
   * `offsetStore`; the instance name defaults to 'DEFAULT' (Java's), so
   * the client id, and the store key, stay the same across restarts —
   * give each member of one process its own `instanceName`.
   */
  model?: 'clustering' | 'broadcasting';
  /** Where a group with no committed offset starts (default 'last'), or a Unix ms timestamp. */
  consumeFrom?: 'last' | 'first' | 'halfHourAgo' | number;
  /** Messages per pull (default 32). */
  pullBatchSize?: number;
  /** How long the broker holds a pull that finds nothing, ms (default 15000). */
  pullSuspendMs?: number;
  /** Rebalance period, ms (default 20000). */
  rebalanceIntervalMs?: number;
  /** How often committed offsets go to the broker (or the offset store), ms (default 5000). */
  persistIntervalMs?: number;
  /** Broadcasting: where offsets are kept (default: a process-wide MemoryOffsetStore). */
  offsetStore?: OffsetStore;
}

export interface PushConsumerOptions extends ConsumerOptions {
  /** Messages per handler call (default 1). */
  batchSize?: number;
  /** Handlers running at once (default 20). */
  concurrency?: number;
  /** Deliveries before a failing message goes to the DLQ (default 16). */
  maxReconsumeTimes?: number;
  /** Default 15 minutes. */
  consumeTimeoutMs?: number;
  /**
   * Orderly consumption (Java's MessageListenerOrderly): each queue is
   * locked on its broker (clustering) and its messages reach the handler
   * one batch at a time, in queue order, so messages sent with one
   * sharding key (sendOrdered) are consumed in the order sent. 'retry'
   * suspends the queue a moment and retries the same batch. Default false.
   */
  orderly?: boolean;
}

export class PushConsumer {
  constructor(options: PushConsumerOptions);
  readonly clientId: string | undefined;
  /** A tag expression ('*', 'TagA || TagB') or { sql } (SQL92, broker-side filtering). */
  subscribe(topic: string, expression: string | { sql: string }, handler: Handler): void;
  subscribe(topic: string, handler: Handler): void;
  start(): Promise<void>;
  /** The queues this consumer owns now (empty before the first rebalance and after shutdown). */
  assignedQueues(): MessageQueue[];
  /**
   * Waits (bounded) for handlers in flight, commits offsets (broadcasting:
   * saves them), closes. Resolves at once when already shut down, never
   * started, or (after the wait) dead after a trap (`INTERNAL`); rejects
   * with CONFIG when the offset store failed to save.
   */
  shutdown(): Promise<void>;
}

export interface LitePullConsumerOptions extends ConsumerOptions {
  /**
   * Default true: what a poll returned is committed by the next poll (and
   * what `for await` took, when the loop asks for the next message), and
   * at shutdown. false: only commit() commits.
   */
  autoCommit?: boolean;
  /** Messages per delivery (default 1); commits are per delivery. */
  batchSize?: number;
}

/**
 * A lite pull consumer (Java's DefaultLitePullConsumer): the core pulls
 * ahead in the background, the application takes messages with poll() or
 * `for await (const msg of consumer)`. Either subscribe() (the group
 * rebalances the topic's queues) or assign() (exactly these queues).
 * Committed offsets go to the group on the broker (clustering).
 */
export class LitePullConsumer implements AsyncIterable<MessageExt> {
  constructor(options: LitePullConsumerOptions);
  readonly clientId: string | undefined;
  /** Before start. A tag expression or { sql }; default '*'. */
  subscribe(topic: string, expression?: string | { sql: string }): void;
  /** Before start: exactly these queues, no rebalance. */
  assign(queues: MessageQueue[]): void;
  start(): Promise<void>;
  /** What was pulled so far, waiting up to `timeoutMs` (default 5000) for the first; [] if none. */
  poll(timeoutMs?: number): Promise<MessageExt[]>;
  /**
   * Messages one by one until shutdown(). Leaving the loop does not shut
   * the consumer down; commit() afterwards commits exactly what the loop took.
   */
  [Symbol.asyncIterator](): AsyncGenerator<MessageExt, void, undefined>;
  /** Commits what poll() and the iterator returned so far. */
  commit(): Promise<void>;
  /** The next message of `queue` (owned by this consumer) is the one at `offset`. */
  seek(queue: MessageQueue, offset: number): Promise<void>;
  seekToBegin(queue: MessageQueue): Promise<void>;
  seekToEnd(queue: MessageQueue): Promise<void>;
  /** The queue's first stored offset (GET_MIN_OFFSET). */
  minOffset(queue: MessageQueue): Promise<number>;
  /** The offset the next message written gets (GET_MAX_OFFSET). */
  maxOffset(queue: MessageQueue): Promise<number>;
  /** The first offset stored at or after `timestampMs` (SEARCH_OFFSET_BY_TIMESTAMP). */
  offsetForTimestamp(queue: MessageQueue, timestampMs: number): Promise<number>;
  /** Stops pulling `queues` until resume(). */
  pause(queues: MessageQueue[]): void;
  resume(queues: MessageQueue[]): void;
  /** The queues owned now (assigned, or by the last rebalance). */
  assignment(): MessageQueue[];
  /** The offset that would be committed for `queue` now, if known. */
  committedOffset(queue: MessageQueue): number | undefined;
  /**
   * Commits (autoCommit), stops, commits offsets to the broker, closes;
   * iterators end. Resolves at once when already shut down, never
   * started, or dead after a trap (`INTERNAL`).
   */
  shutdown(): Promise<void>;
}

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_MESSAGE'
  | 'CONFIG'
  | 'NO_ROUTE'
  | 'TIMEOUT'
  | 'BROKER'
  | 'CONNECTION'
  | 'NOT_STARTED'
  | 'SHUT_DOWN'
  | 'PROTOCOL'
  /** The WebAssembly instance trapped (a core bug): the client is dead. */
  | 'INTERNAL'
  /**
   * A failure the binding has no code of its own for (e.g. a broker's
   * permission refusal, or a feature it does not support); see `message`.
   */
  | 'ERROR';

/** What `new RmqError(code, message, details)` copies onto the error. */
export interface RmqErrorDetails {
  responseCode?: number;
  remark?: string;
  broker?: string;
  addr?: string;
  topic?: string;
  [key: string]: unknown;
}

/** Every failure of an rmq call: an `Error` with a `code`. */
export class RmqError extends Error {
  constructor(code: ErrorCode, message: string, details?: RmqErrorDetails);
  readonly code: ErrorCode;
  /** BROKER: the response code and remark. */
  readonly responseCode?: number;
  readonly remark?: string;
  /** TIMEOUT, BROKER: the broker. */
  readonly broker?: string;
  /** CONNECTION: the peer. */
  readonly addr?: string;
  /** NO_ROUTE: the topic. */
  readonly topic?: string;
  /** INTERNAL: the Rust panic's message. */
  readonly panic?: string;
  /** INTERNAL: the trap (a `WebAssembly.RuntimeError`); CONFIG from a store: its error. */
  cause?: unknown;
}
