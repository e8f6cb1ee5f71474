import type { Observable } from 'rxjs';
import { BrokenCircuitError } from '../errors.js';
import type { EventStream } from '../internal/EventStream.js';
import {
  resolveBreakerConfig,
  restorePhase,
  snapshotOf,
  validateOpenDuration,
  type BreakerSettings,
  type CircuitBreakerConfig,
  type CircuitBreakerSnapshot,
} from './circuitBreakerConfig.js';
import type {
  CircuitBreakerEvent,
  CircuitBreakerStats,
  CircuitPhase,
  CircuitState,
  IsolationHandle,
} from './circuitBreakerTypes.js';
import { ExecuteRunner, UNTIMED } from './circuitExecute.js';
import { CircuitFeed } from './circuitFeed.js';
import { createOutcomeWindow, rateReached, type OutcomeWindow } from './windows.js';

export type {
  CircuitBreakerConfig,
  CircuitBreakerSnapshot,
  CircuitWindow,
} from './circuitBreakerConfig.js';
export type {
  CircuitBreakerEvent,
  CircuitBreakerStats,
  CircuitState,
  IsolationHandle,
} from './circuitBreakerTypes.js';

type WindowCounts = Pick<OutcomeWindow, 'calls' | 'failures'>;
const NO_CALLS: WindowCounts = { calls: 0, failures: 0 };

const CLOSED: CircuitPhase = { kind: 'closed' };
const ISOLATED: CircuitPhase = { kind: 'isolated' };
const publicState = (state: CircuitPhase): CircuitState =>
  state.kind === 'isolated' ? 'open' : state.kind;

/**
 * A circuit breaker: stops calling a failing dependency, then lets a bounded number of trial
 * calls through to see whether it recovered.
 *
 * `closed` → (failureThreshold consecutive failures, or failureRate over window) → `open` →
 * (openMs elapsed) → `half-open` → (successThreshold trial successes) → `closed`, or (one trial
 * failure, or halfOpenMaxMs) → `open`. `isolate()` holds it open by hand; `reset()` closes it.
 *
 * Cheap per call: a permit is the state's generation number (outcomes carrying an older one are
 * ignored), and no timer is set per call. Open → half-open is computed from `scheduler.now()` at
 * the next call or read; one timer exists only while `state$` or `events$` is observed and a
 * timed transition is pending, so both report it on time. While `events$` is unobserved a call
 * pays one branch for it: no event is built and the clock is not read.
 *
 * @example
 * const breaker = new CircuitBreaker({ failureThreshold: 5, openMs: 10_000 });
 * const user = await breaker.execute(() => fetchUser(id)); // BrokenCircuitError while open
 * request$.pipe(circuitBreaker(breaker, { fallback: () => of(cached) }));
 * breaker.events$.subscribe((e) => e.type === 'state' && log.warn(`${e.from} → ${e.to}`));
 */
export class CircuitBreaker {
  /** The current state first, then every transition (no repeats). */
  readonly state$: Observable<CircuitState>;
  /** Calls' outcomes, refusals and transitions; hot, no replay (see {@link CircuitBreakerEvent}). */
  readonly events$: Observable<CircuitBreakerEvent>;

  private current: CircuitPhase;
  /** Bumped on every transition: a permit is the generation it was admitted in. */
  private generation = 0;
  private openings: number;
  private consecutive = 0;
  private isolations = 0;
  /** The window's counts when the circuit last opened from closed (reported while open). */
  private openedBy: WindowCounts = NO_CALLS;
  private readonly settings: BreakerSettings;
  private readonly scheduler: BreakerSettings['scheduler'];
  private readonly window: OutcomeWindow | null;
  private readonly feed: CircuitFeed;
  private readonly events: EventStream<CircuitBreakerEvent>;
  private readonly runner = new ExecuteRunner(this);
  private readonly counts = {
    admitted: 0,
    rejected: 0,
    successes: 0,
    slowCalls: 0,
    failures: 0,
    ignored: 0,
    cancelled: 0,
  };

  constructor(config?: CircuitBreakerConfig) {
    const settings = resolveBreakerConfig(config);
    this.settings = settings;
    this.scheduler = settings.scheduler;
    this.window = createOutcomeWindow(settings.window, this.scheduler);
    ({ phase: this.current, openings: this.openings } = restorePhase(settings.initialState));
    const timed = { refresh: () => this.refresh(), phase: () => this.current };
    this.feed = new CircuitFeed(this.scheduler, timed, publicState(this.current));
    this.events = this.feed.events;
    this.state$ = this.feed.state$;
    this.events$ = this.feed.events$;
  }

  /** The current state (an isolated circuit is `'open'`). */
  get state(): CircuitState {
    this.refresh();
    return publicState(this.current);
  }

  /**
   * Runs `fn` if the circuit admits a call and records how it ends; rejects with
   * {@link BrokenCircuitError} (without calling `fn`) when it does not.
   *
   * @example
   * const body = await breaker.execute(() => fetch(url).then((r) => r.json()));
   */
  execute<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    return this.runner.run(fn);
  }

  /**
   * Low-level API (used by `execute` and the `circuitBreaker` operator): a permit for one call,
   * or -1 when the circuit refuses it. Report the end exactly once with `onSuccess`,
   * `onFailure` or `release`, passing the call's {@link CircuitBreaker.callStart}.
   */
  tryAcquire(): number {
    if (this.current.kind === 'closed') {
      this.counts.admitted++;
      return this.generation;
    }
    return this.acquireSlow();
  }

  /** The error for a refused call: state and milliseconds until a trial may be admitted. */
  rejection(): BrokenCircuitError {
    const kind = this.current.kind;
    return new BrokenCircuitError(kind === 'closed' ? 'half-open' : kind, this.retryAfterMs());
  }

  /**
   * The start time to pass to `onSuccess` / `onFailure`, taken right after `tryAcquire`. The
   * clock is read only when `slowCallMs` is set or `events$` is observed; otherwise it returns
   * a marker meaning "not timed" (no duration, no event).
   */
  callStart(): number {
    return this.settings.slowCallMs !== Number.POSITIVE_INFINITY || this.events.observed
      ? this.scheduler.now()
      : UNTIMED;
  }

  /** The call admitted with `permit` succeeded (slow if it took `slowCallMs` or more). */
  onSuccess(permit: number, startedAt: number): void {
    const counts = this.counts;
    counts.successes++;
    let slow = false;
    if (startedAt !== UNTIMED) {
      const durationMs = this.scheduler.now() - startedAt;
      slow = durationMs >= this.settings.slowCallMs; // never with slowCallMs Infinity
      if (slow) counts.slowCalls++;
      if (this.events.observed) this.events.emit({ type: 'success', durationMs });
    }
    if (permit !== this.generation) return;
    const current = this.current;
    if (current.kind === 'closed') this.recordWhileClosed(slow);
    else if (current.kind === 'half-open') {
      current.trials--;
      if (slow) this.open();
      else if (++current.successes >= this.settings.successThreshold) this.close();
    }
  }

  /** The call admitted with `permit` failed with `error` (ignored if `isFailure` says so). */
  onFailure(permit: number, error: unknown, startedAt = UNTIMED): void {
    const failed = this.settings.isFailure(error);
    if (failed) this.counts.failures++;
    else this.counts.ignored++;
    if (startedAt !== UNTIMED && this.events.observed) this.reportFailure(failed, error, startedAt);
    if (!failed) {
      this.returnTrial(permit);
      return;
    }
    if (permit !== this.generation) return;
    const current = this.current;
    if (current.kind === 'closed') this.recordWhileClosed(true);
    else if (current.kind === 'half-open') {
      current.trials--;
      this.open();
    }
  }

  /** The call admitted with `permit` ended without an outcome (unsubscribed): nothing recorded. */
  release(permit: number): void {
    this.counts.cancelled++;
    this.returnTrial(permit);
  }

  /**
   * Holds the circuit open (calls refused with state `'isolated'`) until every handle returned
   * so far is disposed; then it closes with fresh statistics.
   *
   * @example
   * const maintenance = breaker.isolate(); // … later: maintenance.dispose();
   */
  isolate(): IsolationHandle {
    if (this.isolations++ === 0) {
      if (this.current.kind === 'closed') this.openedBy = NO_CALLS; // opened by hand
      this.enter(ISOLATED);
    }
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        if (--this.isolations === 0) this.close();
      },
    };
  }

  /** Closes the circuit and clears its statistics (an isolated circuit stays isolated). */
  reset(): void {
    this.consecutive = 0;
    this.window?.clear();
    if (this.isolations === 0) this.close();
  }

  /** Counters and current state. */
  stats(): CircuitBreakerStats {
    this.refresh();
    this.window?.settle();
    const current = this.current;
    const frozen = current.kind === 'open' || current.kind === 'isolated';
    return {
      state: publicState(current),
      ...this.counts,
      consecutiveFailures: this.consecutive,
      windowCalls: frozen ? this.openedBy.calls : (this.window?.calls ?? 0),
      windowFailures: frozen ? this.openedBy.failures : (this.window?.failures ?? 0),
      openings: this.openings,
      trialsInFlight: current.kind === 'half-open' ? current.trials : 0,
      retryAfterMs: this.retryAfterMs(),
    };
  }

  /** The state to persist (an isolated circuit is saved as an ordinary opening). */
  toJSON(): CircuitBreakerSnapshot {
    this.refresh();
    return snapshotOf(this.current, this.openings, this.settings);
  }

  private acquireSlow(): number {
    this.refresh();
    const current = this.current;
    if (current.kind === 'closed') return this.tryAcquire();
    const { halfOpenMaxCalls, halfOpenMaxMs } = this.settings;
    if (current.kind === 'half-open' && current.trials < halfOpenMaxCalls) {
      if (current.deadline === Number.POSITIVE_INFINITY && halfOpenMaxMs < Infinity) {
        current.deadline = this.scheduler.now() + halfOpenMaxMs;
        this.feed.arm();
      }
      current.trials++;
      this.counts.admitted++;
      return this.generation;
    }
    this.counts.rejected++;
    if (this.events.observed) this.events.emit({ type: 'rejected', state: current.kind });
    return -1;
  }

  private retryAfterMs(): number {
    const current = this.current;
    return current.kind === 'open' ? Math.max(0, current.halfOpenAt - this.scheduler.now()) : 0;
  }

  private reportFailure(failed: boolean, error: unknown, startedAt: number): void {
    this.events.emit(
      failed
        ? { type: 'failure', durationMs: this.scheduler.now() - startedAt, error }
        : { type: 'ignored', error },
    );
  }

  private returnTrial(permit: number): void {
    const current = this.current;
    if (permit === this.generation && current.kind === 'half-open') current.trials--;
  }

  /**
   * Records an outcome while closed and applies both rules after EVERY outcome, as resilience4j
   * does: a success that brings the window to `minimumCalls` can open the circuit (F F F S S
   * over a count window of 5 at rate 0.5 opens at the second S).
   */
  private recordWhileClosed(failed: boolean): void {
    this.consecutive = failed ? this.consecutive + 1 : 0;
    const window = this.window;
    window?.record(failed);
    const { failureThreshold, minimumCalls, failureRate } = this.settings;
    if (this.consecutive >= failureThreshold || rateReached(window, minimumCalls, failureRate)) {
      this.open();
    }
  }

  /**
   * Applies the timed transitions that are due, each at its due time, so the state is the same
   * whether a timer (state$ or events$ observed) or a later call discovers them.
   */
  private refresh(): void {
    const current = this.current;
    if (current.kind !== 'open' && current.kind !== 'half-open') return;
    const now = this.scheduler.now();
    if (current.kind === 'half-open') {
      if (now < current.deadline) return;
      this.open(current.deadline);
    }
    const opened = this.current;
    if (opened.kind === 'open' && now >= opened.halfOpenAt) {
      this.enter({ kind: 'half-open', trials: 0, successes: 0, deadline: Infinity });
    }
  }

  private open(at = this.scheduler.now()): void {
    const openMs = validateOpenDuration('openMs(openings)', this.settings.openMs(++this.openings));
    const window = this.window;
    // Opening from closed: keep the window that tripped it for stats(); a re-opening after a
    // failed trial keeps the one from before (the trials are not in the window).
    if (window !== null && this.current.kind === 'closed') {
      this.openedBy = { calls: window.calls, failures: window.failures };
    }
    this.consecutive = 0;
    window?.clear();
    this.enter({ kind: 'open', halfOpenAt: at + openMs });
  }

  private close(): void {
    this.openings = 0;
    this.openedBy = NO_CALLS;
    this.consecutive = 0;
    this.window?.clear();
    this.enter(CLOSED);
  }

  private enter(next: CircuitPhase): void {
    this.generation++;
    this.current = next;
    this.feed.enter(publicState(next));
  }
}
