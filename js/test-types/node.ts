// Type-checked only, with @types/node and no DOM lib: README's Node-only
// usage (a transport over node:net, offsets in files, NAMESRV_ADDR, the
// bridge with the ws package's WebSocket).
import net from 'node:net';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { FileOffsetStore, Producer, PushConsumer, ConsumeResult } from 'rmq';
import type { ClientOptions, Transport, WebSocketClass } from 'rmq';

/** README "Your own connections", verbatim. */
const transport: Transport = {
  open(addr) {
    const i = addr.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve({ ...Duplex.toWeb(socket), close: () => socket.destroy() });
      });
    });
  },
};

export async function node(): Promise<void> {
  const p = new Producer({ nameServer: '127.0.0.1:9876', group: 'pg', transport });
  await p.start();
  await p.shutdown();
  // nameServer may come from NAMESRV_ADDR.
  const c = new PushConsumer({
    group: 'cg_bc',
    model: 'broadcasting',
    offsetStore: new FileOffsetStore(process.env['HOME'] + '/.rocketmq_offsets'),
  });
  c.subscribe('orders', () => ConsumeResult.Success);
  await c.start();
  await c.shutdown();
}

/** README "Node 18/20 through rmq-bridge": the ws package's class as webSocket. */
export async function nodeBridge(): Promise<void> {
  const options = { nameServer: '127.0.0.1:9876', bridge: 'ws://127.0.0.1:8080', token: 'change-me', webSocket: WebSocket };
  const p = new Producer({ ...options, group: 'node_pg' });
  await p.start();
  await p.shutdown();
  const typed: ClientOptions = { group: 'g', bridge: 'ws://127.0.0.1:8080', webSocket: WebSocket };
  const cls: WebSocketClass = WebSocket;
  void [typed, cls];
}
