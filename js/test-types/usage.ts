// Type-checked only (tsc --noEmit --strict), never run: every public API of
// `rmq` used the way README.md shows it, against the hand-written
// ../src/index.d.ts. `@ts-expect-error` lines are misuses the typings must
// refuse. Runtime-neutral: compiled for Node (tsconfig.node.json) and for
// browsers (tsconfig.dom.json).
import {
  ConsumeResult,
  FileOffsetStore,
  LitePullConsumer,
  MemoryOffsetStore,
  Producer,
  PushConsumer,
  RmqError,
} from 'rmq';
import type {
  BatchSendResult,
  ClientOptions,
  ConsumeOutcome,
  ErrorCode,
  Handler,
  Message,
  MessageExt,
  MessageQueue,
  OffsetStore,
  OnewayResult,
  SendResult,
  Transport,
  TransportConnection,
  WebSocketClass,
} from 'rmq';

const nameServer = '127.0.0.1:9876';

/** README "Sending": every send kind. */
export async function sending(): Promise<SendResult> {
  const p = new Producer({ nameServer, group: 'pg' });
  await p.start();
  const id: string | undefined = p.clientId;

  const r = await p.send({
    topic: 'orders',
    tag: 'TagA',
    keys: ['order-17'],
    properties: { color: 'blue' },
    body: 'Hello',
  });
  const status: 'SEND_OK' | 'FLUSH_DISK_TIMEOUT' | 'FLUSH_SLAVE_TIMEOUT' | 'SLAVE_NOT_AVAILABLE' = r.status;
  const ids: [string, string, number, string, number] = [r.msgId, r.offsetMsgId, r.queueOffset, r.queue.brokerName, r.queue.queueId];
  const txn: string | undefined = r.transactionId;

  const oneway: OnewayResult = await p.sendOneway({ topic: 'orders', body: 'fire and forget' });
  const written: 'WRITTEN' = oneway.status;
  const onewayQueue: MessageQueue = oneway.queue;

  const b: BatchSendResult = await p.sendBatch([
    { topic: 'orders', tag: 'T0', body: 'batch 0' },
    { topic: 'orders', tag: 'T1', body: new TextEncoder().encode('batch 1') },
  ]);
  const batchIds: string[] = b.msgIds;
  const first: number = b.queueOffset;
  await p.sendBatch([{ topic: 'orders', body: 'here' }], { queue: r.queue, timeoutMs: 1000 });

  await p.sendOrdered({ topic: 'orders', body: 'order-17:0' }, 'order-17');
  await p.sendOrdered({ topic: 'orders', body: 'order-17:1' }, 'order-17', { timeoutMs: 2000 });
  await p.sendToQueue({ topic: 'orders', body: 'here' }, r.queue);
  await p.sendToQueue({ topic: 'orders', body: 'here' }, { topic: 'orders', brokerName: 'broker-a', queueId: 0 }, { timeoutMs: 500 });

  await p.send({ topic: 'orders', body: 'later', delayLevel: 3 });
  await p.send({ topic: 'orders', body: 'at', deliverAt: Date.now() + 10_000 }, { timeoutMs: 5000 });
  await p.send({ topic: 'orders', tags: 'TagB', keys: 'one-key', body: new Uint8Array([1, 2, 3]), flag: 0 });

  const m: Message = { topic: 'orders', body: 'typed' };
  await p.send(m);

  // @ts-expect-error a message needs a body
  await p.send({ topic: 'orders' });
  // @ts-expect-error a body is a string or a Uint8Array
  await p.send({ topic: 'orders', body: 42 });
  // @ts-expect-error properties are strings
  await p.send({ topic: 'orders', body: 'x', properties: { n: 1 } });
  // @ts-expect-error a sharding key is a string
  await p.sendOrdered({ topic: 'orders', body: 'x' }, 17);
  // @ts-expect-error a oneway send has no offset
  oneway.queueOffset;
  // @ts-expect-error a producer needs a group
  new Producer({ nameServer });

  await p.shutdown();
  void [id, status, ids, txn, written, onewayQueue, batchIds, first];
  return r;
}

/** README "Consuming": clustering, orderly, broadcasting with offset stores. */
export async function consuming(): Promise<void> {
  const c = new PushConsumer({ nameServer, group: 'cg', consumeFrom: 'first' });
  c.subscribe('orders', 'TagA || TagB', async (msgs) => {
    for (const m of msgs) {
      const text: string = new TextDecoder().decode(m.body);
      const fields: [string, string, string | undefined, string[], number, number, number] = [
        m.msgId,
        m.offsetMsgId,
        m.tags,
        m.keys,
        m.queueOffset,
        m.reconsumeTimes,
        m.bornTimestamp,
      ];
      const color: string | undefined = m.properties['color'];
      void [text, fields, color];
    }
    return ConsumeResult.Success;
  });
  c.subscribe('sql_topic', { sql: "color = 'blue'" }, () => ConsumeResult.Retry);
  c.subscribe('any_topic', (msgs) => (msgs.length > 1 ? { acked: 1, delayLevel: 3 } : true));
  await c.start();
  const owned: MessageQueue[] = c.assignedQueues();
  const id: string | undefined = c.clientId;
  await c.shutdown();

  const o = new PushConsumer({ nameServer, group: 'cg_orderly', orderly: true, batchSize: 4, concurrency: 2 });
  o.subscribe('orders', '*', async () => ConsumeResult.Success);
  await o.start();
  await o.shutdown();

  const b1 = new PushConsumer({
    nameServer,
    group: 'cg_bc',
    model: 'broadcasting',
    instanceName: 'b1',
    offsetStore: new FileOffsetStore('/var/lib/myapp/rocketmq_offsets'),
  });
  b1.subscribe('orders', '*', () => ConsumeResult.Success);
  await b1.start();
  await b1.shutdown();

  const memory = new MemoryOffsetStore();
  const kept = new Map<string, Uint8Array>();
  const custom: OffsetStore = {
    load: async (key) => kept.get(key),
    save: (key, bytes) => {
      kept.set(key, bytes);
    },
  };
  for (const offsetStore of [memory, new FileOffsetStore(), custom]) {
    new PushConsumer({ nameServer, group: 'cg_bc2', model: 'broadcasting', offsetStore, persistIntervalMs: 1000 });
  }
  new PushConsumer({
    nameServer: ['127.0.0.1:9876', '127.0.0.2:9876'],
    group: 'cg_all',
    consumeFrom: Date.now() - 60_000,
    pullBatchSize: 32,
    pullSuspendMs: 15_000,
    rebalanceIntervalMs: 20_000,
    maxReconsumeTimes: 16,
    consumeTimeoutMs: 15 * 60_000,
    requestTimeoutMs: 3000,
    heartbeatIntervalMs: 30_000,
    routeRefreshIntervalMs: 30_000,
    accessKey: 'ak',
    secretKey: 'sk',
    securityToken: 'token',
  });

  const outcome: ConsumeOutcome = 'retry';
  const result: ConsumeResult = ConsumeResult.RECONSUME_LATER;
  const handler: Handler = () => outcome;

  // @ts-expect-error consumeFrom is 'last' | 'first' | 'halfHourAgo' | a timestamp
  new PushConsumer({ nameServer, group: 'g', consumeFrom: 'earliest' });
  // @ts-expect-error model is 'clustering' | 'broadcasting'
  new PushConsumer({ nameServer, group: 'g', model: 'fanout' });
  // @ts-expect-error a handler resolves with an outcome, not nothing
  c.subscribe('t', '*', async () => {});
  // @ts-expect-error ConsumeResult has no such member
  ConsumeResult.Commit;
  // @ts-expect-error an offset store saves bytes
  const badStore: OffsetStore = { load: () => undefined, save: (key: string, bytes: number) => {} };

  void [owned, id, result, handler, badStore];
}

/** README: the lite pull consumer. */
export async function litePull(r: SendResult): Promise<void> {
  const lp = new LitePullConsumer({ nameServer, group: 'cg_lite', consumeFrom: 'first', autoCommit: false, batchSize: 2 });
  lp.assign([r.queue]);
  await lp.start();
  await lp.seek(r.queue, r.queueOffset);
  await lp.seekToBegin(r.queue);
  await lp.seekToEnd(r.queue);
  const at: number = await lp.offsetForTimestamp(r.queue, Date.now() - 3_600_000);
  const min: number = await lp.minOffset(r.queue);
  const max: number = await lp.maxOffset(r.queue);
  for await (const msg of lp) {
    const offset: number = msg.queueOffset;
    console.log(offset, new TextDecoder().decode(msg.body));
    if (msg.queueOffset >= r.queueOffset + 2) break;
  }
  await lp.commit();
  const more: MessageExt[] = await lp.poll(1000);
  const none: MessageExt[] = await lp.poll();
  lp.pause([r.queue]);
  lp.resume([r.queue]);
  const owned: MessageQueue[] = lp.assignment();
  const committed: number | undefined = lp.committedOffset(r.queue);
  const id: string | undefined = lp.clientId;
  await lp.shutdown();

  const sub = new LitePullConsumer({ nameServer, group: 'cg_lite2' });
  sub.subscribe('orders', 'TagA');
  sub.subscribe('sql_topic', { sql: 'a > 1' });
  sub.subscribe('all');
  const it: AsyncIterator<MessageExt> = sub[Symbol.asyncIterator]();
  const iterable: AsyncIterable<MessageExt> = sub;

  // @ts-expect-error assign takes queues
  lp.assign(['orders']);
  // @ts-expect-error a lite pull consumer takes no handler
  sub.subscribe('orders', '*', () => ConsumeResult.Success);

  void [at, min, max, more, none, owned, committed, id, it, iterable];
}

/** README "Runtimes and connections": the bridge and user transports. */
export function transports(): void {
  const options: ClientOptions = { nameServer, group: 'web_pg', bridge: 'ws://127.0.0.1:8080', token: 'change-me' };
  new Producer({ ...options, group: 'web_pg' });
  new PushConsumer({ ...options, group: 'web_cg', consumeFrom: 'first' });

  // Any duplex of Uint8Array chunks, sync or async.
  const loopback: Transport = {
    open(addr: string): TransportConnection {
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      void addr;
      return { readable, writable, close() {} };
    },
  };
  const iterableReadable: Transport = {
    async open() {
      const { writable } = new TransformStream<Uint8Array, Uint8Array>();
      async function* chunks(): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(0);
      }
      return { readable: chunks(), writable, close: async () => {} };
    },
  };
  new Producer({ nameServer, group: 'pg', transport: loopback });
  new LitePullConsumer({ nameServer, group: 'cg', transport: iterableReadable });

  // @ts-expect-error a transport opens connections
  new Producer({ nameServer, group: 'pg', transport: {} });
  // @ts-expect-error the bridge is a URL string
  new Producer({ nameServer, group: 'pg', bridge: new URL('ws://127.0.0.1:8080') });

  // webSocket: a WebSocket class (runtime-neutral here: a stand-in of the shape).
  class FakeWebSocket {
    binaryType = 'blob';
    readonly bufferedAmount = 0;
    onopen: ((event: { type: string }) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onerror: ((event: { message?: string }) => void) | null = null;
    onclose: ((event: { code: number; reason: string }) => void) | null = null;
    constructor(readonly url: string) {}
    send(data: Uint8Array): void {
      void data;
    }
    close(code?: number, reason?: string): void {
      void [code, reason];
    }
  }
  const webSocket: WebSocketClass = FakeWebSocket;
  new Producer({ ...options, webSocket });
  // @ts-expect-error webSocket is the class, not a module name
  new Producer({ ...options, webSocket: 'ws' });
  // @ts-expect-error webSocket is the class, not an instance
  new Producer({ ...options, webSocket: new FakeWebSocket('ws://127.0.0.1:8080') });
}

/** README "Errors": RmqError and every code. */
export async function errors(p: Producer): Promise<string> {
  try {
    await p.send({ topic: 'orders', body: 'x' });
    return 'sent';
  } catch (e) {
    if (!(e instanceof RmqError)) throw e;
    const base: Error = e;
    const message: string = e.message;
    switch (e.code) {
      case 'BROKER': {
        const code: number | undefined = e.responseCode;
        const remark: string | undefined = e.remark;
        return `${e.broker} ${code} ${remark}`;
      }
      case 'CONNECTION':
        return e.addr ?? '';
      case 'NO_ROUTE':
        return e.topic ?? '';
      case 'TIMEOUT':
        return e.broker ?? '-';
      case 'INTERNAL': {
        const panic: string | undefined = e.panic;
        const cause: unknown = e.cause;
        void cause;
        return panic ?? message;
      }
      case 'INVALID_ARGUMENT':
      case 'INVALID_MESSAGE':
      case 'CONFIG':
      case 'NOT_STARTED':
      case 'SHUT_DOWN':
      case 'PROTOCOL':
      case 'ERROR':
        return `${e.code}: ${base.message}`;
      default: {
        // Every code is handled above.
        const unreachable: never = e.code;
        return unreachable;
      }
    }
  }
}

export function makeErrors(): RmqError[] {
  const code: ErrorCode = 'TIMEOUT';
  // @ts-expect-error not a code
  const wrong: ErrorCode = 'TIMED_OUT';
  void wrong;
  return [new RmqError(code, 'timed out', { broker: 'broker-a' }), new RmqError('CONFIG', 'bad')];
}
