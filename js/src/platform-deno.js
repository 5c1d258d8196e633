// What only Deno can do: TCP with Deno.connect, host facts from Deno.*.
// Permissions: --allow-net (connections); --allow-sys (the address, else
// loopback) and --allow-env (NAMESRV_ADDR) are optional.
import { duplexConnector } from './transport.js';
import { parseAddr } from './transport.js';

/**
 * Opens a TCP connection with Deno.connect: a Deno.Conn is already the
 * duplex transport.js drives (readable and writable byte streams, close()).
 */
export async function openDenoTcp(addr) {
  const target = parseAddr(addr);
  if (!target) throw new Error(`bad address ${addr}`);
  const conn = await Deno.connect({ hostname: target.host, port: target.port, transport: 'tcp' });
  try {
    conn.setNoDelay(true);
  } catch {
    // best effort
  }
  return conn;
}

export const connect = duplexConnector(openDenoTcp);
export const transportName = 'deno';

/** The first non-loopback IPv4 address (as Java picks), else loopback. */
export function hostFacts() {
  let ip = '127.0.0.1';
  try {
    const found = Deno.networkInterfaces().find(
      (i) => i.family === 'IPv4' && !i.address.startsWith('127.'),
    );
    if (found) ip = found.address;
  } catch {
    // no --allow-sys: keep loopback
  }
  return { ip, pid: Deno.pid };
}

export function envNameServer() {
  try {
    return Deno.env.get('NAMESRV_ADDR');
  } catch {
    return undefined; // no --allow-env
  }
}
