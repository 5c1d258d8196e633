// Client options shared by producers and consumers, as the wasm binding takes them.
import { RmqError } from './errors.js';
import { envNameServer, TRANSPORT_KEYS } from './platform.js';

const CLIENT_KEYS = [
  'instanceName',
  'requestTimeoutMs',
  'heartbeatIntervalMs',
  'routeRefreshIntervalMs',
  'accessKey',
  'secretKey',
  'securityToken',
];

export function clientOptions(options) {
  if (options === null || typeof options !== 'object') {
    throw new RmqError('INVALID_ARGUMENT', 'options must be an object');
  }
  let nameServer = options.nameServer ?? envNameServer();
  if (Array.isArray(nameServer)) nameServer = nameServer.join(';');
  if (typeof nameServer !== 'string' || !nameServer.split(';').some((a) => a.trim() !== '')) {
    throw new RmqError('CONFIG', 'no name server: pass nameServer or set NAMESRV_ADDR');
  }
  if (typeof options.group !== 'string' || options.group === '') {
    throw new RmqError('CONFIG', 'group is required');
  }
  const out = { nameServer };
  for (const k of CLIENT_KEYS) if (options[k] !== undefined) out[k] = options[k];
  // transport, bridge, token, webSocket: the host picks the connections with them.
  for (const k of TRANSPORT_KEYS) if (options[k] !== undefined) out[k] = options[k];
  return out;
}
