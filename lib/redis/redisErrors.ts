import { BackendUnavailableError, isConcurrencyError } from '../errors.js';

/** Connection-level failures and the replies Redis gives while it cannot serve (retry later). */
export function isTransientRedisError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e.name !== 'ReplyError') return true; // connection closed, max retries, ECONNREFUSED ...
  return /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|BUSY)/.test(e.message);
}

/** A ConcurrencyError as is; a transient failure as BackendUnavailableError; others unchanged. */
export function toRedisError(e: unknown, what: string): Error {
  if (isConcurrencyError(e)) return e;
  if (isTransientRedisError(e)) {
    return new BackendUnavailableError('redis', `redis ${what} failed: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return e instanceof Error ? e : new Error(`redis ${what} failed: ${String(e)}`);
}
