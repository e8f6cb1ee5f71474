/**
 * Every error this library throws. Each class extends {@link ConcurrencyError}, carries a
 * stable `code` string and the original error as `cause`, and has a type guard
 * (`isLockLostError(e)`) that also recognises an instance from a second copy of the package.
 */

/** Base class of every error raised by rxjs-concurrency. */
export class ConcurrencyError extends Error {
  override readonly name: string = 'ConcurrencyError';
  /** Stable, machine-readable identifier, e.g. `'ERR_LOCK_LOST'`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

function hasCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
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
export const isBufferOverflowError = (e: unknown): e is BufferOverflowError =>
  e instanceof BufferOverflowError || hasCode(e, BufferOverflowError.code);

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
export const isRateLimitExceededError = (e: unknown): e is RateLimitExceededError =>
  e instanceof RateLimitExceededError || hasCode(e, RateLimitExceededError.code);

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
export const isBrokenCircuitError = (e: unknown): e is BrokenCircuitError =>
  e instanceof BrokenCircuitError || hasCode(e, BrokenCircuitError.code);

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
export const isWorkerCrashedError = (e: unknown): e is WorkerCrashedError =>
  e instanceof WorkerCrashedError || hasCode(e, WorkerCrashedError.code);

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
export const isLockTimeoutError = (e: unknown): e is LockTimeoutError =>
  e instanceof LockTimeoutError || hasCode(e, LockTimeoutError.code);

/** A held lock can no longer be proven valid (expired, deleted, lease revoked, backend gone). */
export class LockLostError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_LOCK_LOST';
  override readonly name = 'LockLostError';
  constructor(
    readonly key: string,
    message = `lock "${key}" was lost`,
    options?: { cause?: unknown },
  ) {
    super(LockLostError.code, message, options);
  }
}
export const isLockLostError = (e: unknown): e is LockLostError =>
  e instanceof LockLostError || hasCode(e, LockLostError.code);

/** A lease-backed session (etcd lease, Redis key TTL) expired under a waiter or holder. */
export class SessionExpiredError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_SESSION_EXPIRED';
  override readonly name = 'SessionExpiredError';
  constructor(message = 'session expired', options?: { cause?: unknown }) {
    super(SessionExpiredError.code, message, options);
  }
}
export const isSessionExpiredError = (e: unknown): e is SessionExpiredError =>
  e instanceof SessionExpiredError || hasCode(e, SessionExpiredError.code);

/** An operation was cancelled through its `AbortSignal`. */
export class AbortedError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_ABORTED';
  override readonly name = 'AbortedError';
  constructor(message = 'operation aborted', options?: { cause?: unknown }) {
    super(AbortedError.code, message, options);
  }
}
export const isAbortedError = (e: unknown): e is AbortedError =>
  e instanceof AbortedError || hasCode(e, AbortedError.code);

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
export const isBackendUnavailableError = (e: unknown): e is BackendUnavailableError =>
  e instanceof BackendUnavailableError || hasCode(e, BackendUnavailableError.code);

/** A leader-only operation was attempted by a candidate that does not lead. */
export class NotLeaderError extends ConcurrencyError {
  static readonly code = 'ERR_RXC_NOT_LEADER';
  override readonly name = 'NotLeaderError';
  constructor(message = 'not the leader', options?: { cause?: unknown }) {
    super(NotLeaderError.code, message, options);
  }
}
export const isNotLeaderError = (e: unknown): e is NotLeaderError =>
  e instanceof NotLeaderError || hasCode(e, NotLeaderError.code);

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
export const isTimeoutError = (e: unknown): e is TimeoutError =>
  e instanceof TimeoutError || hasCode(e, TimeoutError.code);

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
export const isBackendRejectedError = (e: unknown): e is BackendRejectedError =>
  e instanceof BackendRejectedError || hasCode(e, BackendRejectedError.code);

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
export const isWorkerLoadError = (e: unknown): e is WorkerLoadError =>
  e instanceof WorkerLoadError || hasCode(e, WorkerLoadError.code);

const transientCodes = new Set<string>([
  BufferOverflowError.code,
  RateLimitExceededError.code,
  BrokenCircuitError.code,
  WorkerCrashedError.code,
  LockTimeoutError.code,
  BackendUnavailableError.code,
  TimeoutError.code,
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
