/**
 * Internal helpers shared by the etcd primitives (session, locks, election): per-call deadlines
 * for unary calls and the mapping of transport failures to {@link BackendUnavailableError}.
 * Not part of the public entry.
 */
import { ClientClosedError, EtcdLeaseInvalidError, isRecoverableError } from 'etcd3';
import { BackendUnavailableError, isConcurrencyError } from '../errors.js';

/** Default deadline for one unary etcd call (grant, txn, get, delete, revoke). */
export const DEFAULT_CALL_TIMEOUT_MS = 5_000;

/**
 * Call options with an absolute gRPC deadline `timeoutMs` from now. gRPC deadlines are wall-clock
 * dates by contract, so this is the one place that reads `Date.now()`. Never use it on streams.
 */
export function unaryDeadline(timeoutMs: number): { deadline: Date } {
  return { deadline: new Date(Date.now() + timeoutMs) };
}

/** True for an etcd error saying the lease does not exist (expired or revoked). */
export function isLeaseNotFound(e: unknown): boolean {
  if (e instanceof EtcdLeaseInvalidError) return true;
  return e instanceof Error && /requested lease not found/i.test(e.message);
}

/**
 * Maps a failed etcd call to this library's errors: our own errors pass through; network,
 * deadline and unavailable errors become a retryable {@link BackendUnavailableError}; anything
 * else is returned unchanged.
 */
export function toEtcdError(e: unknown, what: string): Error {
  if (isConcurrencyError(e)) return e;
  if (e instanceof Error && (isRecoverableError(e) || e instanceof ClientClosedError)) {
    return new BackendUnavailableError('etcd', `etcd ${what} failed: ${e.message}`, { cause: e });
  }
  return e instanceof Error ? e : new Error(`etcd ${what} failed: ${String(e)}`);
}

/**
 * Runs `read` at `revision` (one a watch event or read has shown) from the member's own store:
 * serializable, so no quorum round, yet exact, since a revision never changes. A member that has
 * not applied it yet, or has compacted it, answers with an error; then (or without a revision)
 * `read` runs once more without one, linearizable at the latest revision.
 */
export async function readAtOrLatest<T>(
  revision: string | undefined,
  read: (serializableAt?: string) => Promise<T>,
): Promise<T> {
  if (revision !== undefined) {
    const exact = await read(revision).catch(() => undefined);
    if (exact !== undefined) return exact;
  }
  return read();
}
