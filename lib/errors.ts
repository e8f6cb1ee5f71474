/**
 * Every error this library throws. Each class extends {@link ConcurrencyError}, carries a
 * stable `code` string and the original error as `cause`, and has a type guard
 * (`isLockLostError(e)`) that also recognises an instance from a second copy of the package.
 */

import { serializeError, type SerializedError } from './errorChain.js';

/** Base class of every error raised by rxjs-concurrency. */
export class ConcurrencyError extends Error {
  override readonly name: string = 'ConcurrencyError';
  /** Stable, machine-readable identifier, e.g. `'ERR_RXC_LOCK_LOST'`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /**
   * `{ name, code, message, ...context, cause }`: the class's typed fields (`key`, `fence` and
   * `term` as decimal strings, `retryAfterMs`, `state`, …) and the cause chain written the same
   * way (a plain Error as `{ name, message, code? }`), cycle-safe. `JSON.stringify(err)` uses it.
   */
  toJSON(): SerializedError {
    return serializeError(this, isConcurrencyError) as SerializedError;
  }
}

function hasCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** The type guard of an error class: its instances, or any error carrying its code. */
function guardOf<C extends (abstract new (...args: never[]) => Error) & { readonly code: string }>(
  ErrorClass: C,
): (e: unknown) => e is InstanceType<C> {
  return (e: unknown): e is InstanceType<C> =>
    e instanceof ErrorClass || hasCode(e, ErrorClass.code);
}

/** True for any error raised by this library. */
export function isConcurrencyError(e: unknown): e is ConcurrencyError {
  if (e instanceof ConcurrencyError) return true;
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_RXC_');
}

/** A bounded queue was full and its overflow policy is `'error'`. */
export class BufferOverflowError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_BUFFER_OVERFLOW';
  override readonly name = 'BufferOverflowError';
  constructor(
    /** The bound that was exceeded. */
    readonly capacity: number,
    message = `buffer overflow: more than ${capacity} values waiting`,
  ) {
    super(BufferOverflowError.code, message);
  }
}
/** True for a {@link BufferOverflowError}, also one from a second copy of this package. */
export const isBufferOverflowError = /* @__PURE__ */ guardOf(BufferOverflowError);

/** A rate limiter refused a value and the overflow policy is `'error'`. */
export class RateLimitExceededError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_RATE_LIMIT_EXCEEDED';
  override readonly name = 'RateLimitExceededError';
  constructor(
    /** Milliseconds until the limiter admits again. */
    readonly retryAfterMs: number,
    message = `rate limit exceeded, retry after ${retryAfterMs} ms`,
  ) {
    super(RateLimitExceededError.code, message);
  }
}
/** True for a {@link RateLimitExceededError}, also one from a second copy of this package. */
export const isRateLimitExceededError = /* @__PURE__ */ guardOf(RateLimitExceededError);

/** The circuit breaker is open (or half-open with every trial slot taken). */
export class BrokenCircuitError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_BROKEN_CIRCUIT';
  override readonly name = 'BrokenCircuitError';
  constructor(
    /** The breaker's state when the call was refused. */
    readonly state: 'open' | 'half-open' | 'isolated',
    /** Milliseconds until the breaker will admit a trial call (0 if unknown or now). */
    readonly retryAfterMs: number,
    message = `circuit is ${state}; retry after ${retryAfterMs} ms`,
  ) {
    super(BrokenCircuitError.code, message);
  }
}
/** True for a {@link BrokenCircuitError}, also one from a second copy of this package. */
export const isBrokenCircuitError = /* @__PURE__ */ guardOf(BrokenCircuitError);

/** A worker thread died while it held this item. The pool has replaced the worker. */
export class WorkerCrashedError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_WORKER_CRASHED';
  override readonly name = 'WorkerCrashedError';
  constructor(
    message = 'worker crashed while processing this item',
    options?: { cause?: unknown },
  ) {
    super(WorkerCrashedError.code, message, options);
  }
}
/** True for a {@link WorkerCrashedError}, also one from a second copy of this package. */
export const isWorkerCrashedError = /* @__PURE__ */ guardOf(WorkerCrashedError);

/** A lock was not acquired within `waitMs`. */
export class LockTimeoutError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_LOCK_TIMEOUT';
  override readonly name = 'LockTimeoutError';
  constructor(
    readonly key: string,
    readonly waitMs: number,
    message = `lock "${key}" not acquired within ${waitMs} ms`,
  ) {
    super(LockTimeoutError.code, message);
  }
}
/** True for a {@link LockTimeoutError}, also one from a second copy of this package. */
export const isLockTimeoutError = /* @__PURE__ */ guardOf(LockTimeoutError);

/** A held lock can no longer be proven valid (expired, deleted, lease revoked, backend gone). */
export class LockLostError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_LOCK_LOST';
  override readonly name = 'LockLostError';
  /** The fence of the lost lease, when the backend knew it. */
  declare readonly fence?: bigint;
  constructor(
    readonly key: string,
    message = `lock "${key}" was lost`,
    options?: { cause?: unknown; fence?: bigint },
  ) {
    super(LockLostError.code, message, options);
    if (options?.fence !== undefined) this.fence = options.fence;
  }
}
/** True for a {@link LockLostError}, also one from a second copy of this package. */
export const isLockLostError = /* @__PURE__ */ guardOf(LockLostError);

/** A lease-backed session (etcd lease, Redis key TTL) expired under a waiter or holder. */
export class SessionExpiredError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_SESSION_EXPIRED';
  override readonly name = 'SessionExpiredError';
  constructor(message = 'session expired', options?: { cause?: unknown }) {
    super(SessionExpiredError.code, message, options);
  }
}
/** True for a {@link SessionExpiredError}, also one from a second copy of this package. */
export const isSessionExpiredError = /* @__PURE__ */ guardOf(SessionExpiredError);

/** An operation was cancelled through its `AbortSignal`. */
export class AbortedError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_ABORTED';
  override readonly name = 'AbortedError';
  constructor(message = 'operation aborted', options?: { cause?: unknown }) {
    super(AbortedError.code, message, options);
  }
}
/** True for a {@link AbortedError}, also one from a second copy of this package. */
export const isAbortedError = /* @__PURE__ */ guardOf(AbortedError);

/** Redis or etcd could not be reached within the configured timeouts. Retryable. */
export class BackendUnavailableError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_BACKEND_UNAVAILABLE';
  override readonly name = 'BackendUnavailableError';
  constructor(
    readonly backend: string,
    message = `${backend} is unavailable`,
    options?: { cause?: unknown },
  ) {
    super(BackendUnavailableError.code, message, options);
  }
}
/** True for a {@link BackendUnavailableError}, also one from a second copy of this package. */
export const isBackendUnavailableError = /* @__PURE__ */ guardOf(BackendUnavailableError);

/** A leader-only operation was attempted by a candidate that does not lead. */
export class NotLeaderError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_NOT_LEADER';
  override readonly name = 'NotLeaderError';
  /** The term that was no longer led, when known. */
  declare readonly term?: bigint;
  constructor(message = 'not the leader', options?: { cause?: unknown; term?: bigint }) {
    super(NotLeaderError.code, message, options);
    if (options?.term !== undefined) this.term = options.term;
  }
}
/** True for a {@link NotLeaderError}, also one from a second copy of this package. */
export const isNotLeaderError = /* @__PURE__ */ guardOf(NotLeaderError);

/** An operation did not finish within its deadline. Retryable. */
export class TimeoutError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_TIMEOUT';
  override readonly name = 'TimeoutError';
  constructor(
    readonly ms: number,
    message = `timed out after ${ms} ms`,
    options?: { cause?: unknown },
  ) {
    super(TimeoutError.code, message, options);
  }
}
/** True for a {@link TimeoutError}, also one from a second copy of this package. */
export const isTimeoutError = /* @__PURE__ */ guardOf(TimeoutError);

/**
 * A backend refused a request as wrong (a type clash on a key, a non-integer counter, a script
 * error): retrying the same call cannot help, so it is fatal. `cause` is the backend's error.
 */
export class BackendRejectedError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_BACKEND_REJECTED';
  override readonly name = 'BackendRejectedError';
  constructor(
    readonly backend: string,
    message = `${backend} rejected the request`,
    options?: { cause?: unknown },
  ) {
    super(BackendRejectedError.code, message, options);
  }
}
/** True for a {@link BackendRejectedError}, also one from a second copy of this package. */
export const isBackendRejectedError = /* @__PURE__ */ guardOf(BackendRejectedError);

/**
 * A worker script could not load (missing file, syntax error, a throw at load): a configuration
 * error, so it is fatal and the pool does not respawn. `cause` is the worker's own error.
 */
export class WorkerLoadError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_WORKER_LOAD';
  override readonly name = 'WorkerLoadError';
  constructor(
    /** The script (path or URL) that failed to load. */
    readonly script: string,
    message = `worker script ${script} failed to load`,
    options?: { cause?: unknown },
  ) {
    super(WorkerLoadError.code, message, options);
  }
}
/** True for a {@link WorkerLoadError}, also one from a second copy of this package. */
export const isWorkerLoadError = /* @__PURE__ */ guardOf(WorkerLoadError);

// Literal codes, not the classes' static `code`s: reading those here would keep every error class
// in every bundle (esbuild cannot drop a module-level read). The errors spec checks they match.
const transientCodes = /* @__PURE__ */ new Set<string>([
  'ERR_RXC_BUFFER_OVERFLOW', // BufferOverflowError
  'ERR_RXC_RATE_LIMIT_EXCEEDED', // RateLimitExceededError
  'ERR_RXC_BROKEN_CIRCUIT', // BrokenCircuitError
  'ERR_RXC_WORKER_CRASHED', // WorkerCrashedError
  'ERR_RXC_LOCK_TIMEOUT', // LockTimeoutError
  'ERR_RXC_BACKEND_UNAVAILABLE', // BackendUnavailableError
  'ERR_RXC_TIMEOUT', // TimeoutError
  // Node and libuv network errors
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EADDRNOTAVAIL',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * Classifies an error as worth retrying: this library's retryable errors (overflow, rate limit,
 * open circuit, crashed worker, lock wait timeout, unavailable backend, timeout) and common Node
 * network errors (`ECONNRESET`, `ETIMEDOUT`, ...), also when wrapped as another error's `cause`.
 * Everything else (programming errors, `LockLostError`, aborts, `BackendRejectedError`) is
 * fatal. One of this library's errors is graded by its own code, never by its `cause`.
 *
 * @example
 * source$.pipe(retryBackoff({ maxRetries: 5, initialMs: 100, maxMs: 5_000, shouldRetry: isTransient }))
 */
export function isTransient(e: unknown): boolean {
  for (let depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const { code, name } = e as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && transientCodes.has(code)) return true;
    // Our own error decides for its causes: a BackendRejectedError caused by a reset is fatal.
    if (isConcurrencyError(e)) return false;
    if (name === 'TimeoutError') return true; // DOMException from AbortSignal.timeout()
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The complement of {@link isTransient}: retrying the same call cannot help. */
export function isFatal(e: unknown): boolean {
  return !isTransient(e);
}
