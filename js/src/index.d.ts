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

export interface SendOptions {
  /** Deadline of this send, ms (default: the producer's sendTimeoutMs). */
  timeoutMs?: number;
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
  sendOneway(message: Message): Promise<{ status: 'WRITTEN'; msgId: string; queue: MessageQueue }>;
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

/**
 * What a handler resolves with: success, retry (the broker's delay), or
 * the first `acked` messages succeeded and the rest retry at `delayLevel`.
 * A throw, or anything else, counts as retry.
 */
export type ConsumeOutcome = 'success' | 'retry' | boolean | { acked: number; delayLevel?: number };

export type Handler = (messages: MessageExt[]) => ConsumeOutcome | Promise<ConsumeOutcome>;

export interface PushConsumerOptions extends ClientOptions {
  /** Default 'clustering'. */
  model?: 'clustering' | 'broadcasting';
  /** Where a group with no committed offset starts (default 'last'), or a Unix ms timestamp. */
  consumeFrom?: 'last' | 'first' | 'halfHourAgo' | number;
  /** Messages per handler call (default 1). */
  batchSize?: number;
  /** Messages per pull (default 32). */
  pullBatchSize?: number;
  /** Handlers running at once (default 20). */
  concurrency?: number;
  /** Deliveries before a failing message goes to the DLQ (default 16). */
  maxReconsumeTimes?: number;
  /** Default 15 minutes. */
  consumeTimeoutMs?: number;
}

export class PushConsumer {
  constructor(options: PushConsumerOptions);
  readonly clientId: string | undefined;
  /** A tag expression ('*', 'TagA || TagB') or { sql } (SQL92, broker-side filtering). */
  subscribe(topic: string, expression: string | { sql: string }, handler: Handler): void;
  subscribe(topic: string, handler: Handler): void;
  start(): Promise<void>;
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
  | 'INTERNAL';

export class RmqError extends Error {
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
}
