import type { BrokenCircuitError } from '../errors.js';

/** The three states of a circuit. An isolated circuit reports `'open'`. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * The breaker's own state (internal, not exported from the package): `isolated` is held open by
 * `isolate()` and reported as `'open'`; half-open counts its trials in flight and succeeded,
 * and `deadline` is when it opens again (set at its first trial when `halfOpenMaxMs` is).
 */
export type CircuitPhase =
  | { readonly kind: 'closed' }
  | { readonly kind: 'open'; readonly halfOpenAt: number }
  | { readonly kind: 'half-open'; trials: number; successes: number; deadline: number }
  | { readonly kind: 'isolated' };

/** Counters since creation plus the current rule inputs. */
export interface CircuitBreakerStats {
  state: CircuitState;
  /** Calls admitted, refused, and how admitted calls ended (stale outcomes included). */
  admitted: number;
  rejected: number;
  successes: number;
  slowCalls: number;
  failures: number;
  ignored: number;
  cancelled: number;
  consecutiveFailures: number;
  /**
   * Calls and failures in the rate window now (0 without a window). While open: those of the
   * window when the circuit opened from closed (kept through re-openings after failed trials),
   * so the numbers that tripped it stay visible; 0 when `isolate()` opened it.
   */
  windowCalls: number;
  windowFailures: number;
  /** Consecutive openings without closing in between. */
  openings: number;
  trialsInFlight: number;
  /** Milliseconds until a trial is admitted (0 unless open). */
  retryAfterMs: number;
}

/** Ends one `CircuitBreaker.isolate` hold. Idempotent. */
export interface IsolationHandle {
  dispose(): void;
}

/**
 * What `CircuitBreaker.events$` emits, discriminated on `type`; `at` is the breaker's
 * `scheduler.now()` in ms.
 *
 * - `success`, `failure`, `ignored`: how an admitted call ended (`isFailure` false is `ignored`;
 *   a slow success is a `success` here, and a failure for the rules and `stats().slowCalls`).
 *   `durationMs` runs from admission to the outcome. Only calls with a start time report: those
 *   admitted while `events$` was observed (and every call when `slowCallMs` is set). A call
 *   admitted while nobody watched was not timed, so it has no duration to report. A cancelled
 *   call (`release`) reports nothing.
 * - `rejected`: a call refused; `state` as in the `BrokenCircuitError` it gets.
 * - `state`: every change that `state$` announces, just before `state$` does: openings, the
 *   timed open → half-open and half-open → open (on time while observed), closings, `isolate()`
 *   (to `'open'`) and `reset()`. An outcome that changes the state is reported before the change.
 */
export type CircuitBreakerEvent =
  | { readonly type: 'success'; readonly at: number; readonly durationMs: number }
  | {
      readonly type: 'failure';
      readonly at: number;
      readonly durationMs: number;
      readonly error: unknown;
    }
  | { readonly type: 'ignored'; readonly at: number; readonly error: unknown }
  | { readonly type: 'rejected'; readonly at: number; readonly state: BrokenCircuitError['state'] }
  | {
      readonly type: 'state';
      readonly at: number;
      readonly from: CircuitState;
      readonly to: CircuitState;
    };
