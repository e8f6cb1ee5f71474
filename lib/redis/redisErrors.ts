import { BackendRejectedError, BackendUnavailableError, isConcurrencyError } from '../errors.js';

/**
 * Replies Redis gives while it cannot serve right now (a replica, a load, a failover, a slot
 * migration, a busy script): the same call may succeed later.
 */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|BUSY)\b/;

/** An error Redis itself sent back (ioredis' ReplyError), as opposed to a connection failure. */
function isReplyError(e: Error): boolean {
  return e.name === 'ReplyError';
}

/**
 * Connection-level failures (closed, refused, reset, max retries, timeouts) and the replies Redis
 * gives while it cannot serve: retry later. A reply that says the request itself is wrong
 * (WRONGTYPE, not an integer, a script error, NOSCRIPT) is not transient.
 */
export function isTransientRedisError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (!isReplyError(e)) return true; // connection closed, max retries, ECONNREFUSED, timeouts ...
  return TRANSIENT_REPLY.test(e.message);
}

/**
 * The one Redis error mapping: a ConcurrencyError as is; a transient failure as
 * `BackendUnavailableError`; a reply that rejects the request (WRONGTYPE, 'ERR value is not an
 * integer', script errors, NOSCRIPT, oversized arguments) as the fatal `BackendRejectedError`;
 * both with the original as `cause`. Anything that is not an Error becomes a plain Error.
 */
export function toRedisError(e: unknown, what: string): Error {
  if (isConcurrencyError(e)) return e;
  if (!(e instanceof Error)) return new Error(`redis ${what} failed: ${String(e)}`);
  const message = `redis ${what} failed: ${e.message}`;
  if (isTransientRedisError(e)) return new BackendUnavailableError('redis', message, { cause: e });
  return new BackendRejectedError('redis', message, { cause: e });
}
