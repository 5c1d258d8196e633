// Errors every rmq call rejects with: an `Error` subclass with a `code`.

/**
 * An rmq failure. `code` is one of: INVALID_ARGUMENT, INVALID_MESSAGE,
 * CONFIG, NO_ROUTE, TIMEOUT, BROKER, CONNECTION, NOT_STARTED, SHUT_DOWN,
 * PROTOCOL, INTERNAL. Broker refusals carry `responseCode`, `remark` and
 * `broker`; connection failures `addr`; timeouts `broker`; no-route `topic`.
 */
export class RmqError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = 'RmqError';
    this.code = code;
    if (details) {
      for (const [k, v] of Object.entries(details)) {
        if (k !== 'message' && k !== 'code' && v !== undefined) this[k] = v;
      }
    }
  }
}

/** An error thrown by the wasm binding (a JS Error with `code`) as an RmqError. */
export function fromThrown(e) {
  if (e instanceof RmqError) return e;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    return new RmqError(e.code, e.message);
  }
  return e;
}

/** A failed completion's `error` object as an RmqError. */
export function fromCompletion(error) {
  return new RmqError(error.code ?? 'ERROR', error.message ?? 'rmq error', error);
}
