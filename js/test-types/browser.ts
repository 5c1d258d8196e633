// Type-checked only, with the DOM lib and no Node types: README's browser
// usage (through rmq-bridge) and a transport over a WebSocket of its own.
import { Producer, PushConsumer, ConsumeResult } from 'rmq';
import type { Transport, TransportConnection } from 'rmq';

export async function page(): Promise<void> {
  const options = { nameServer: '127.0.0.1:9876', bridge: 'ws://127.0.0.1:8080', token: 'change-me' };
  const producer = new Producer({ ...options, group: 'web_pg' });
  await producer.start();
  const r = await producer.send({ topic: 'web_topic', tag: 'TagA', body: 'one from the browser' });
  console.log(r.status, r.msgId);

  const consumer = new PushConsumer({ ...options, group: 'web_cg', consumeFrom: 'first' });
  consumer.subscribe('web_topic', 'TagA', async (messages) => {
    for (const m of messages) console.log(new TextDecoder().decode(m.body));
    return ConsumeResult.Success;
  });
  await consumer.start();
  document.title = 'consuming';
}

/** The page's own WebSocket class, given explicitly, fits the webSocket option. */
export function explicitWebSocket(): Producer {
  return new Producer({ nameServer: '127.0.0.1:9876', group: 'web_pg', bridge: 'ws://127.0.0.1:8080', webSocket: WebSocket });
}

/** A WebSocket as a transport (what the bridge option does, by hand). */
export const viaWebSocket: Transport = {
  open(addr: string): Promise<TransportConnection> {
    const ws = new WebSocket(`wss://gateway.example/${encodeURIComponent(addr)}`);
    ws.binaryType = 'arraybuffer';
    return new Promise((resolve, reject) => {
      ws.onerror = () => reject(new Error('cannot connect'));
      ws.onopen = () =>
        resolve({
          readable: new ReadableStream<Uint8Array>({
            start(controller) {
              ws.onmessage = (e: MessageEvent<ArrayBuffer>) => controller.enqueue(new Uint8Array(e.data));
              ws.onclose = () => controller.close();
            },
          }),
          writable: new WritableStream<Uint8Array>({ write: (chunk) => ws.send(chunk) }),
          close: () => ws.close(),
        });
    });
  },
};
