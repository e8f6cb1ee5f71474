import {
  defer,
  retry,
  throwError,
  timer,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { backoffDelay, validateBackoff, BACKOFF_KEYS, type Jitter } from '../internal/backoff.js';
import { resolveScheduler } from '../internal/scheduler.js';
import {
  validateBoolean,
  validateFunction,
  validateInteger,
  validateOptions,
} from '../internal/validate.js';

export type { Jitter } from '../internal/backoff.js';

/** Options of {@link retryBackoff}; validated (unknown keys too) when the operator is created. */
export interface RetryBackoffConfig {
  /** Retries after the first attempt (0 = none, Infinity = forever). */
  maxRetries: number;
  /** Delay before the first retry, before jitter. */
  initialMs: number;
  /** Cap on every delay, at most 2^31 − 1 ms (the longest a timer can wait). */
  maxMs: number;
  /** Growth per retry (>= 1). Default 2. */
  factor?: number;
  /**
   * With base = min(maxMs, initialMs × factor^k) for retry k (0-based):
   * `'none'` base; `'full'` uniform in [0, base); `'equal'` uniform in [base/2, base);
   * `'decorrelated'` (AWS) min(maxMs, uniform in [initialMs, 3 × previous delay)), factor unused.
   */
  jitter?: Jitter;
  /** Whether to retry this error; `attempt` is the retry about to happen (1, 2, …). Default: always. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Start counting (and growing the delay) from scratch after each value. Default false. */
  resetOnSuccess?: boolean;
  /** Source of randomness in [0, 1). Default `Math.random`. */
  random?: () => number;
  scheduler?: SchedulerLike;
}

const CONFIG_KEYS = [
  'maxRetries',
  ...BACKOFF_KEYS,
  'shouldRetry',
  'resetOnSuccess',
  'scheduler',
] as const;

/**
 * Resubscribes to the source after an error, waiting an exponentially growing, jittered delay;
 * built on RxJS 7 `retry({ count, delay, resetOnSuccess })`. When retries stop (count reached or
 * `shouldRetry` false) the source's own error is rethrown.
 *
 * ```
 * retryBackoff({ maxRetries: 2, initialMs: 3, maxMs: 10, jitter: 'none' })
 * attempt 1:  -#
 * attempt 2:      -#              (3 ms after the first error)
 * attempt 3:             -a|      (6 ms after the second)
 * result:     ------------a|
 * ```
 *
 * @example
 * fetch$.pipe(
 *   retryBackoff({ maxRetries: 5, initialMs: 100, maxMs: 5_000, shouldRetry: isTransient }),
 * );
 */
export function retryBackoff<T>(config: RetryBackoffConfig): MonoTypeOperatorFunction<T> {
  const c = validateOptions('retryBackoff config', config, CONFIG_KEYS);
  const maxRetries = validateInteger('maxRetries', c.maxRetries, 0, { allowInfinity: true });
  const backoff = validateBackoff(c);
  const shouldRetry =
    c.shouldRetry === undefined
      ? null
      : validateFunction<(error: unknown, attempt: number) => boolean>(
          'shouldRetry',
          c.shouldRetry,
        );
  const resetOnSuccess = validateBoolean('resetOnSuccess', c.resetOnSuccess ?? false);
  const scheduler = resolveScheduler(c.scheduler);

  return (source) =>
    defer(() => {
      let previous = backoff.initialMs; // per subscription, for decorrelated jitter
      return source.pipe(
        retry({
          count: maxRetries,
          resetOnSuccess,
          delay: (error: unknown, attempt: number) => {
            if (shouldRetry !== null && !shouldRetry(error, attempt)) {
              return throwError(() => error);
            }
            if (attempt === 1) previous = backoff.initialMs;
            const ms = backoffDelay(backoff, attempt - 1, previous);
            previous = ms;
            return timer(ms, scheduler);
          },
        }),
      );
    });
}
