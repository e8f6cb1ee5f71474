import type { Observable } from 'rxjs';
import { validateMs, validateNonEmptyString, validateOptions } from '../internal/validate.js';

/** Options of {@link LockBackend.acquire}, {@link lock$} and {@link withLock}. */
export interface AcquireOptions {
  /**
   * Lease time to live in ms (integer >= 1, <= 2^31 − 1; RedisLocks needs >= 10): the lock frees itself this long after the last
   * acquire/extend was SENT unless extended. Default 30000. `lock$` extends at a third of it.
   * EtcdLocks ignores it: its session lease TTL (`ttlSeconds`) applies.
   */
  ttlMs?: number;
  /** How long to wait for the lock in ms: 0 tries once, default Infinity waits forever. */
  waitMs?: number;
  /** Aborting cancels a waiting acquire (rejects `AbortedError`) and removes its queue entry. */
  signal?: AbortSignal;
}

/**
 * A held lock. `fence` is the fencing token: pass it to every write the lock guards and let the
 * store reject writes carrying a fence lower than one it has seen, so a holder that lost the
 * lock without knowing it (paused process, partition) cannot overwrite a newer holder's work.
 */
export interface LockLease {
  /** The key passed to `acquire`. */
  readonly key: string;
  /** Fencing token: strictly increasing per key across all holders. */
  readonly fence: bigint;
  /** TTL in ms the lease was last acquired or extended with. */
  readonly ttlMs: number;
  /**
   * Never emits. Errors with `LockLostError` the moment the lease can no longer be proven valid
   * (TTL passed since the last acquire/extend was SENT, key deleted, lease revoked, session
   * expired); completes when the lease is released.
   */
  readonly lost$: Observable<never>;
  /**
   * Renews the lease for `ttlMs` (default: the current TTL). Rejects `LockLostError` if the lock
   * is no longer ours, `BackendUnavailableError` if the backend cannot be reached (the lease then
   * stays valid until its current expiry).
   */
  extend(ttlMs?: number): Promise<void>;
  /**
   * Frees the lock and completes `lost$`. Idempotent. Releasing a lease that was already lost
   * rejects with `LockLostError` and changes nothing: it never frees a later holder's lock.
   */
  release(): Promise<void>;
}

/**
 * What a {@link LockBackend}'s `events$` emits, discriminated on `type`; `at` is the backend's
 * scheduler time in ms. `waitedMs` counts from the `acquire` call, `heldMs` from the grant.
 */
export type LockEvent =
  | {
      readonly type: 'acquired';
      readonly at: number;
      readonly key: string;
      readonly fence: bigint;
      readonly waitedMs: number;
    }
  | {
      readonly type: 'timeout';
      readonly at: number;
      readonly key: string;
      readonly waitedMs: number;
    }
  | { readonly type: 'extended'; readonly at: number; readonly key: string; readonly fence: bigint }
  | {
      readonly type: 'released';
      readonly at: number;
      readonly key: string;
      readonly fence: bigint;
      readonly heldMs: number;
    }
  | {
      readonly type: 'lost';
      readonly at: number;
      readonly key: string;
      readonly fence: bigint;
      readonly error: unknown;
    };

/**
 * A lock service: Memory (one process), Redis, etcd. Every backend passes the same conformance
 * suite (`spec/lock/conformance.ts`).
 *
 * @example
 * const lease = await locks.acquire('orders', { ttlMs: 10_000, waitMs: 5_000 });
 * try {
 *   await db.write(row, { fence: lease.fence });
 * } finally {
 *   await lease.release();
 * }
 */
export interface LockBackend {
  /**
   * Waits (without polling) until the lock is free and takes it. `waitMs: 0` tries once.
   * Rejects `LockTimeoutError` when not acquired within `waitMs`, `AbortedError` when `signal`
   * aborts, `BackendUnavailableError` when the backend cannot be reached.
   */
  acquire(key: string, options?: AcquireOptions): Promise<LockLease>;
  /**
   * Optional Observable form of `acquire`: emits the lease once and completes; unsubscribing
   * while waiting cancels the wait. A backend that can grant synchronously (MemoryLocks) does so
   * here, which lets `lock$` run in virtual time.
   */
  acquire$?(key: string, options?: AcquireOptions): Observable<LockLease>;
  /**
   * What happens to this backend's leases, as it happens: hot, no replay. When nobody
   * subscribes no event is built. Optional so that a backend of your own needs only
   * the methods; every backend in this package has it.
   */
  readonly events$?: Observable<LockEvent>;
}

/** Default lease TTL of every backend that uses `ttlMs`. */
export const DEFAULT_LOCK_TTL_MS = 30_000;

/** Validated acquire options with defaults applied. */
export interface ResolvedAcquireOptions {
  ttlMs: number;
  waitMs: number;
  signal: AbortSignal | undefined;
}

/** The keys an {@link AcquireOptions} object may have; any other is a typo and rejected. */
const ACQUIRE_OPTION_KEYS = [
  'ttlMs',
  'waitMs',
  'signal',
] as const satisfies readonly (keyof AcquireOptions)[];

/**
 * Validates a key and acquire options (where they are written), applying the defaults. Durations
 * are capped at 2^31 − 1 ms (a longer timer fires at once); `minTtlMs` is the shortest TTL the
 * backend can prove valid at all (a Redis lease loses its drift allowance off it).
 */
export function resolveAcquireOptions(
  key: unknown,
  options: AcquireOptions | undefined,
  { allowInfiniteTtl = false, minTtlMs = 1 } = {},
): ResolvedAcquireOptions {
  validateNonEmptyString('key', key);
  const o = validateOptions('options', options, ACQUIRE_OPTION_KEYS);
  const ttlMs = validateMs('ttlMs', o.ttlMs ?? DEFAULT_LOCK_TTL_MS, minTtlMs, {
    allowInfinity: allowInfiniteTtl,
  });
  const waitMs = validateMs('waitMs', o.waitMs ?? Number.POSITIVE_INFINITY, 0, {
    allowInfinity: true,
  });
  const signal = o.signal;
  if (signal !== undefined && (typeof signal !== 'object' || typeof signal.aborted !== 'boolean')) {
    throw new TypeError(`signal must be an AbortSignal, got ${typeof signal}`);
  }
  return { ttlMs, waitMs, signal };
}
