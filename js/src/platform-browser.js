// Browsers, web workers and edge runtimes: no TCP (a bridge or a user
// transport opens connections), no process.

/** No TCP here: platform.js asks for `bridge` or `transport`. */
export const connect = undefined;
export const transportName = undefined;

const pid = Math.floor(Math.random() * 0x7fff_ffff);

/** Loopback and a random pid (a page has neither an address nor a process). */
export function hostFacts() {
  return { ip: '127.0.0.1', pid };
}

export function envNameServer() {
  return undefined;
}
