import {
  defer,
  retry,
  throwError,
  timer,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { isTransient } from '../errors.js';
import { backoffDelay, validateBackoff, BACKOFF_KEYS, type Jitter } from '../internal/backoff.js';
import { resolveScheduler } from '../internal/scheduler.js';
import {
  validateFunction,
  validateInteger,
  validateNumber,
  validateOptions,
  MAX_TIMER_MS,
} from '../internal/validate.js';

/** Options of {@link supervise}; validated (unknown keys too) when the operator is created. */
export interface SuperviseConfig {
  /** Restarts allowed within any `withinMs` window (0 = none: every error passes). */
  maxRestarts: number;
  /**
   * The window of the restart intensity, in (0, 2^31 − 1] ms or Infinity (then `maxRestarts`
   * caps the restarts of the whole subscription and the backoff never shrinks back).
   */
  withinMs: number;
  /** Delay before a restart with no other restart in the window, before jitter. */
  initialMs: number;
  /** Cap on every delay, at most 2^31 − 1 ms. */
  maxMs: number;
  /** Growth per restart still in the window (>= 1). Default 2. */
  factor?: number;
  /**
   * As in `retryBackoff`, with k = the number of earlier restarts still in the window:
   * base = min(maxMs, initialMs × factor^k); `'none'` base; `'full'` (default) uniform in
   * [0, base); `'equal'` uniform in [base/2, base); `'decorrelated'` min(maxMs, uniform in
   * [initialMs, 3 × previous delay)).
   */
  jitter?: Jitter;
  /**
   * Whether this error may restart the stream; `restart` is the restart it would be, counted
   * from the subscription (1, 2, …). Default {@link isTransient}: fatal errors pass at once.
   */
  shouldRestart?: (error: unknown, restart: number) => boolean;
  /** Source of randomness in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Clock of the restart window and of the backoff timers. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

const CONFIG_KEYS = [
  'maxRestarts',
  'withinMs',
  ...BACKOFF_KEYS,
  'shouldRestart',
  'scheduler',
] as const;

/**
 * The `recover` boundary of a long-running stream (a consumer, `whileLeader` work): after an
 * error that `shouldRestart` accepts (default {@link isTransient}) it resubscribes to the source,
 * waiting `retryBackoff`'s jittered exponential delay; a fatal error passes at once. Restart
 * intensity as in Erlang/OTP: at most `maxRestarts` restarts within any `withinMs` window (a
 * restart counts from the error that caused it until it is more than `withinMs` old); the error
 * that would exceed it passes through, so the failure escalates to whoever subscribed.
 *
 * Values do not reset the backoff: it grows with the restarts still in the window and falls
 * back to `initialMs` once they have aged out. A stream in a crash loop often emits between its
 * crashes (a consumer that handles a message, then loses its connection), so a reset on values
 * would pin the delay at `initialMs` and hammer the failing dependency; the window is the one
 * measure of "recently healthy" for both the intensity and the delay.
 *
 * ```
 * supervise({ maxRestarts: 2, withinMs: 20, initialMs: 2, maxMs: 10, jitter: 'none' })
 * subscription 1:  a-#                       (a transient error at 2: restart in 2)
 * subscription 2:      b-#                   (at 6, one restart in the window: restart in 4)
 * subscription 3:            c-#             (at 12, two restarts in the window: give up)
 * result:          a---b-----c-#             (the last error)
 * ```
 *
 * @example
 * election.campaign('billing', hostname()).pipe(
 *   whileLeader((term) =>
 *     billingRuns$(term).pipe(
 *       supervise({ maxRestarts: 5, withinMs: 60_000, initialMs: 500, maxMs: 10_000 }),
 *     ),
 *   ),
 * );
 */
export function supervise<T>(config: SuperviseConfig): MonoTypeOperatorFunction<T> {
  const c = validateOptions('supervise config', config, CONFIG_KEYS);
  const maxRestarts = validateInteger('maxRestarts', c.maxRestarts, 0);
  const withinMs = validateNumber('withinMs', c.withinMs, {
    min: 0,
    exclusiveMin: true,
    max: MAX_TIMER_MS,
    allowInfinity: true,
  });
  const backoff = validateBackoff(c);
  const shouldRestart = validateFunction<(error: unknown, restart: number) => boolean>(
    'shouldRestart',
    c.shouldRestart ?? isTransient,
  );
  const scheduler = resolveScheduler(c.scheduler);

  return (source) =>
    defer(() => {
      // Per subscription: when the restarts still in the window happened (oldest first; never
      // more than maxRestarts), and the last delay, for decorrelated jitter.
      const restartTimes: number[] = [];
      let previousMs = backoff.initialMs;
      return source.pipe(
        retry({
          delay: (error: unknown, restart: number) => {
            if (!shouldRestart(error, restart)) return throwError(() => error);
            const now = scheduler.now();
            while (restartTimes.length > 0 && now - restartTimes[0] > withinMs) {
              restartTimes.shift();
            }
            if (restartTimes.length >= maxRestarts) return throwError(() => error);
            if (restartTimes.length === 0) previousMs = backoff.initialMs;
            const ms = backoffDelay(backoff, restartTimes.length, previousMs);
            restartTimes.push(now);
            previousMs = ms;
            return timer(ms, scheduler);
          },
        }),
      );
    });
}
