/**
 * Internal helpers shared by the etcd primitives (session, locks, election): per-call deadlines
 * for unary calls and the one mapping of etcd failures to this library's errors.
 * Not part of the public entry.
 */
import {
  ClientClosedError,
  EtcdLeaseInvalidError,
  GRPCAbortedError,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCGenericError,
  GRPCInternalError,
  GRPCUnavailableError,
  GRPCUnknownError,
  EtcdError,
  EtcdPermissionDeniedError,
  EtcdWatchStreamEnded,
} from 'etcd3';
import {
  BackendRejectedError,
  BackendUnavailableError,
  isConcurrencyError,
  isTransient,
} from '../errors.js';
import type { SchedulerLike } from 'rxjs';
import { resolveScheduler } from '../internal/scheduler.js';
import {
  MAX_TIMER_MS,
  validateInteger,
  validateMs,
  validateOptions,
} from '../internal/validate.js';

/** The longest TTL in whole seconds whose keepalive and expiry timers fit a JS timer. */
export const MAX_TTL_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

function describe(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  // The likely mix-up: the ioredis client meant for RedisLocks (its constructor.name is
  // 'EventEmitter'; it is known by its command methods).
  const redis = value as { sendCommand?: unknown; duplicate?: unknown };
  if (typeof redis.sendCommand === 'function' && typeof redis.duplicate === 'function')
    return 'an ioredis client';
  return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'an object';
}

/**
 * Throws unless `client` is an etcd3 client or namespace: checked by its lease client and
 * key-value methods, since `watch()` alone also matches an ioredis client (the WATCH command).
 */
export function validateEtcdClient(client: unknown): void {
  const c = client as
    | { leaseClient?: { leaseGrant?: unknown }; kv?: { txn?: unknown }; watch?: unknown }
    | null
    | undefined;
  if (
    typeof c !== 'object' ||
    c === null ||
    typeof c.watch !== 'function' ||
    typeof c.leaseClient?.leaseGrant !== 'function' ||
    typeof c.kv?.txn !== 'function'
  )
    throw new TypeError(
      `client must be an etcd3 Etcd3 client or Namespace, got ${describe(client)}`,
    );
}

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
 * gRPC statuses of a server that could not answer now (stopped, restarting, no Raft leader,
 * deadline passed, connection reset mid-call): worth retrying, perhaps on another member.
 */
const UNAVAILABLE = [
  GRPCUnavailableError, // connection refused, no leader, "request timed out"
  GRPCDeadlineExceededError,
  GRPCCancelledError, // the channel went away under the call
  GRPCInternalError, // RST_STREAM when a member is killed mid-call
  GRPCUnknownError,
  GRPCAbortedError,
  EtcdWatchStreamEnded, // a watch stream that broke with its connection
];

/**
 * The etcd3 client's own circuit breaker (cockatiel) refused the call without sending it: after
 * 3 failed calls to a host it fails every call for 5 s in about 1 ms. Not our BrokenCircuitError
 * (that one has an `ERR_RXC_` code and is checked first); cockatiel's has `name` 'Error', so it
 * is recognised by its flag and class name.
 */
function isEtcd3BreakerError(e: Error): boolean {
  return (
    (e as { isBrokenCircuitError?: unknown }).isBrokenCircuitError === true ||
    e.name === 'BrokenCircuitError' ||
    e.constructor.name === 'BrokenCircuitError'
  );
}

function isUnavailable(e: Error): boolean {
  if (e instanceof ClientClosedError || isEtcd3BreakerError(e)) return true;
  if (UNAVAILABLE.some((type) => e instanceof type)) return true;
  // A Node network error (ECONNREFUSED, ...) that reached us unwrapped.
  return !(e instanceof GRPCGenericError) && !(e instanceof EtcdError) && isTransient(e);
}

/**
 * The one mapping of a failed etcd call (issue 12): our own errors pass through; a server that
 * could not answer (see {@link UNAVAILABLE}, a closed client, the etcd3 breaker) becomes a
 * transient {@link BackendUnavailableError}; every other answer of etcd (RESOURCE_EXHAUSTED for
 * a request over the 2 MiB gRPC limit, INVALID_ARGUMENT "request is too large" from 1.5 MiB,
 * lease not found, permission denied, ...) is the caller's to fix: a fatal
 * {@link BackendRejectedError}. etcd3's own `isRecoverableError` is not used: it grades
 * RESOURCE_EXHAUSTED recoverable. The etcd error is kept as `cause`; anything that is not an
 * etcd error (a bug of ours) is returned unchanged.
 */
export function toEtcdError(e: unknown, what: string): Error {
  if (isConcurrencyError(e)) return e;
  if (!(e instanceof Error)) return new Error(`etcd ${what} failed: ${String(e)}`);
  const message = `etcd ${what} failed: ${e.message}`;
  if (isUnavailable(e)) return new BackendUnavailableError('etcd', message, { cause: e });
  const rejected =
    e instanceof GRPCGenericError ||
    e instanceof EtcdError ||
    e instanceof EtcdLeaseInvalidError ||
    e instanceof EtcdPermissionDeniedError;
  if (rejected) return new BackendRejectedError('etcd', message, { cause: e });
  return e;
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

/** The configuration every etcd primitive (EtcdLocks, EtcdElection) takes. */
export interface EtcdConfig {
  prefix?: string;
  ttlSeconds?: number;
  callTimeoutMs?: number;
  scheduler?: SchedulerLike;
}

/** An {@link EtcdConfig} checked and completed with its defaults. */
export interface EtcdSettings {
  readonly prefix: string;
  readonly ttlSeconds: number;
  readonly callTimeoutMs: number;
  readonly scheduler: SchedulerLike;
}

/**
 * Checks `client` and `config` once, at construction (unknown keys, types, a TTL whose timers
 * fit a JS timer), naming the bad option and value; `defaultTtlSeconds` differs per primitive.
 */
export function resolveEtcdSettings(
  client: unknown,
  config: EtcdConfig | undefined,
  defaultTtlSeconds: number,
): EtcdSettings {
  validateEtcdClient(client);
  const options = validateOptions('config', config, [
    'prefix',
    'ttlSeconds',
    'callTimeoutMs',
    'scheduler',
  ]);
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string')
    throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
  return {
    prefix,
    ttlSeconds: validateInteger('ttlSeconds', options.ttlSeconds ?? defaultTtlSeconds, 1, {
      max: MAX_TTL_SECONDS,
    }),
    callTimeoutMs: validateMs('callTimeoutMs', options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, 1),
    scheduler: resolveScheduler(options.scheduler),
  };
}
