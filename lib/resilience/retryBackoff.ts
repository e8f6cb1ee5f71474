import {
  defer,
  retry,
  throwError,
  timer,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { resolveScheduler } from '../internal/scheduler.js';
import {
  validateBoolean,
  validateFunction,
  validateInteger,
  validateNumber,
  validateOneOf,
  validateOptions,
  MAX_TIMER_MS,
} from '../internal/validate.js';

/** How the delay is randomised. `'full'` (the default) spreads retries best under contention. */
export type Jitter = 'full' | 'equal' | 'decorrelated' | 'none';

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
  'initialMs',
  'maxMs',
  'factor',
  'jitter',
  'shouldRetry',
  'resetOnSuccess',
  'random',
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
  const initialMs = validateNumber('initialMs', c.initialMs, { min: 0 });
  const maxMs = validateNumber('maxMs', c.maxMs, { min: initialMs, max: MAX_TIMER_MS });
  const factor = validateNumber('factor', c.factor ?? 2, { min: 1 });
  const jitter = validateOneOf<Jitter>('jitter', c.jitter ?? 'full', [
    'full',
    'equal',
    'decorrelated',
    'none',
  ]);
  const shouldRetry =
    c.shouldRetry === undefined
      ? null
      : validateFunction<(error: unknown, attempt: number) => boolean>(
          'shouldRetry',
          c.shouldRetry,
        );
  const resetOnSuccess = validateBoolean('resetOnSuccess', c.resetOnSuccess ?? false);
  const random = validateFunction<() => number>('random', c.random ?? Math.random);
  const scheduler = resolveScheduler(c.scheduler);

  return (source) =>
    defer(() => {
      let previous = initialMs; // per subscription, for decorrelated jitter
      return source.pipe(
        retry({
          count: maxRetries,
          resetOnSuccess,
          delay: (error: unknown, attempt: number) => {
            if (shouldRetry !== null && !shouldRetry(error, attempt)) {
              return throwError(() => error);
            }
            if (attempt === 1) previous = initialMs;
            const base = Math.min(maxMs, initialMs * factor ** (attempt - 1));
            let ms: number;
            switch (jitter) {
              case 'none':
                ms = base;
                break;
              case 'full':
                ms = random() * base;
                break;
              case 'equal':
                ms = base / 2 + (random() * base) / 2;
                break;
              case 'decorrelated':
                ms = Math.min(maxMs, initialMs + random() * (previous * 3 - initialMs));
                break;
            }
            previous = ms;
            return timer(ms, scheduler);
          },
        }),
      );
    });
}
