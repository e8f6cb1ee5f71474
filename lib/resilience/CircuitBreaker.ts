import { Observable, Subject, type SchedulerLike, type Subscription } from 'rxjs';
import { BrokenCircuitError } from '../errors.js';
import { scheduleOnce } from '../internal/scheduler.js';
import { MAX_TIMER_MS } from '../internal/validate.js';
import {
  resolveBreakerConfig,
  validateOpenDuration,
  type CircuitBreakerConfig,
  type CircuitBreakerSnapshot,
} from './circuitBreakerConfig.js';
import { CountWindow, TimeWindow, type OutcomeWindow } from './windows.js';

export type {
  CircuitBreakerConfig,
  CircuitBreakerSnapshot,
  CircuitWindow,
} from './circuitBreakerConfig.js';

/** The three states of a circuit. An isolated circuit reports `'open'`. */
export type CircuitState = 'closed' | 'open' | 'half-open';

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

/** Ends one {@link CircuitBreaker.isolate} hold. Idempotent. */
export interface IsolationHandle {
  dispose(): void;
}

type Internal =
  | { readonly kind: 'closed' }
  | { readonly kind: 'open'; readonly halfOpenAt: number }
  | { readonly kind: 'half-open'; trials: number; successes: number; deadline: number }
  | { readonly kind: 'isolated' };

interface WindowCounts {
  readonly calls: number;
  readonly failures: number;
}
const NO_CALLS: WindowCounts = { calls: 0, failures: 0 };

const CLOSED: Internal = { kind: 'closed' };
const ISOLATED: Internal = { kind: 'isolated' };
const publicState = (s: Internal): CircuitState => (s.kind === 'isolated' ? 'open' : s.kind);

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
 * the next call or read; one timer exists only while `state$` is observed and a timed transition
 * is pending, so `state$` announces it on time.
 *
 * @example
 * const breaker = new CircuitBreaker({ failureThreshold: 5, openMs: 10_000 });
 * const user = await breaker.execute(() => fetchUser(id)); // BrokenCircuitError while open
 * request$.pipe(circuitBreaker(breaker, { fallback: () => of(cached) }));
 */
export class CircuitBreaker {
  /** The current state first, then every transition (no repeats). */
  readonly state$: Observable<CircuitState>;

  private s: Internal = CLOSED;
  private gen = 0;
  private openings = 0;
  private consecutive = 0;
  private isolations = 0;
  /** The window's counts when the circuit last opened from closed (reported while open). */
  private openedBy: WindowCounts = NO_CALLS;
  private readonly window: OutcomeWindow | null;
  private readonly failureThreshold: number;
  private readonly failureRate: number;
  private readonly minimumCalls: number;
  private readonly openMs: (openings: number) => number;
  private readonly halfOpenMaxCalls: number;
  private readonly successThreshold: number;
  private readonly halfOpenMaxMs: number;
  private readonly slowCallMs: number;
  private readonly isFailure: (error: unknown) => boolean;
  private readonly scheduler: SchedulerLike;

  private readonly counts = {
    admitted: 0,
    rejected: 0,
    successes: 0,
    slowCalls: 0,
    failures: 0,
    ignored: 0,
    cancelled: 0,
  };

  private readonly transitions = new Subject<CircuitState>();
  private readonly pending: CircuitState[] = [];
  private announcing = false;
  private announced: CircuitState = 'closed';
  private observers = 0;
  private timer: Subscription | null = null;
  private settlers = this.settlersFor(0);

  constructor(config?: CircuitBreakerConfig) {
    const c = resolveBreakerConfig(config);
    this.scheduler = c.scheduler;
    this.failureThreshold = c.failureThreshold;
    this.failureRate = c.failureRate;
    this.minimumCalls = c.minimumCalls;
    const window = c.window;
    this.window =
      window === undefined
        ? null
        : window.type === 'count'
          ? new CountWindow(window.size)
          : new TimeWindow(window.ms, window.buckets, this.scheduler);
    this.openMs = c.openMs;
    this.halfOpenMaxCalls = c.halfOpenMaxCalls;
    this.successThreshold = c.successThreshold;
    this.halfOpenMaxMs = c.halfOpenMaxMs;
    this.slowCallMs = c.slowCallMs;
    this.isFailure = c.isFailure;
    if (c.initialState !== undefined) this.hydrate(c.initialState);

    this.state$ = new Observable<CircuitState>((subscriber) => {
      this.refresh();
      subscriber.next(this.announced);
      const subscription = this.transitions.subscribe(subscriber);
      this.observers++;
      this.arm();
      return () => {
        subscription.unsubscribe();
        if (--this.observers === 0) this.disarm();
      };
    });
  }

  /** The current state (an isolated circuit is `'open'`). */
  get state(): CircuitState {
    this.refresh();
    return publicState(this.s);
  }

  /**
   * Runs `fn` if the circuit admits a call and records how it ends; rejects with
   * {@link BrokenCircuitError} (without calling `fn`) when it does not.
   *
   * @example
   * const body = await breaker.execute(() => fetch(url).then((r) => r.json()));
   */
  execute<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError('execute(fn) needs a function'));
    }
    const permit = this.tryAcquire();
    if (permit < 0) return Promise.reject(this.rejection());
    if (this.slowCallMs !== Number.POSITIVE_INFINITY) return this.executeTimed(fn, permit);
    // The settlers of the current generation (= permit), shared by every call admitted in it.
    const { settled, failed } = this.settlers;
    let result: T | PromiseLike<T>;
    try {
      result = fn();
    } catch (error) {
      this.onFailure(permit, error);
      return rejected(error);
    }
    return Promise.resolve(result).then(settled, failed);
  }

  /** `execute` when calls are timed (slowCallMs): the start time is per call. */
  private async executeTimed<T>(fn: () => T | PromiseLike<T>, permit: number): Promise<T> {
    const startedAt = this.scheduler.now();
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      this.onFailure(permit, error);
      throw error;
    }
    this.onSuccess(permit, startedAt);
    return value;
  }

  /**
   * Low-level API (used by `execute` and the `circuitBreaker` operator): a permit for one call,
   * or -1 when the circuit refuses it. Report the end exactly once with `onSuccess`,
   * `onFailure` or `release`.
   */
  tryAcquire(): number {
    if (this.s.kind === 'closed') {
      this.counts.admitted++;
      return this.gen;
    }
    return this.acquireSlow();
  }

  /** The error for a refused call: state and milliseconds until a trial may be admitted. */
  rejection(): BrokenCircuitError {
    const s = this.s;
    if (s.kind === 'open') {
      return new BrokenCircuitError('open', Math.max(0, s.halfOpenAt - this.scheduler.now()));
    }
    return new BrokenCircuitError(s.kind === 'isolated' ? 'isolated' : 'half-open', 0);
  }

  /** Start time to pass to `onSuccess` (reads the clock only when `slowCallMs` is set). */
  callStart(): number {
    return this.slowCallMs === Number.POSITIVE_INFINITY ? 0 : this.scheduler.now();
  }

  /** The call admitted with `permit` succeeded (slow if it took `slowCallMs` or more). */
  onSuccess(permit: number, startedAt: number): void {
    const counts = this.counts;
    counts.successes++;
    const slow =
      this.slowCallMs !== Number.POSITIVE_INFINITY &&
      this.scheduler.now() - startedAt >= this.slowCallMs;
    if (slow) counts.slowCalls++;
    if (permit !== this.gen) return;
    const s = this.s;
    if (s.kind === 'closed') this.recordWhileClosed(slow);
    else if (s.kind === 'half-open') {
      s.trials--;
      if (slow) this.open();
      else if (++s.successes >= this.successThreshold) this.close();
    }
  }

  /** The call admitted with `permit` failed with `error` (ignored if `isFailure` says so). */
  onFailure(permit: number, error: unknown): void {
    if (!this.isFailure(error)) {
      this.counts.ignored++;
      this.returnTrial(permit);
      return;
    }
    this.counts.failures++;
    if (permit !== this.gen) return;
    const s = this.s;
    if (s.kind === 'closed') this.recordWhileClosed(true);
    else if (s.kind === 'half-open') {
      s.trials--;
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
   * const maintenance = breaker.isolate();
   * // … later
   * maintenance.dispose();
   */
  isolate(): IsolationHandle {
    if (this.isolations++ === 0) {
      if (this.s.kind === 'closed') this.openedBy = NO_CALLS; // opened by hand, not by a window
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
    const s = this.s;
    const frozen = s.kind === 'open' || s.kind === 'isolated';
    return {
      state: publicState(s),
      ...this.counts,
      consecutiveFailures: this.consecutive,
      windowCalls: frozen ? this.openedBy.calls : (this.window?.calls ?? 0),
      windowFailures: frozen ? this.openedBy.failures : (this.window?.failures ?? 0),
      openings: this.openings,
      trialsInFlight: s.kind === 'half-open' ? s.trials : 0,
      retryAfterMs: s.kind === 'open' ? Math.max(0, s.halfOpenAt - this.scheduler.now()) : 0,
    };
  }

  /**
   * The state to persist. An isolated circuit is saved as an ordinary opening (isolation
   * handles do not outlive the process).
   */
  toJSON(): CircuitBreakerSnapshot {
    this.refresh();
    const s = this.s;
    switch (s.kind) {
      case 'closed':
        return { state: 'closed' };
      case 'half-open':
        return { state: 'half-open', openings: this.openings };
      case 'open':
        return { state: 'open', openings: this.openings, halfOpenAt: s.halfOpenAt };
      case 'isolated': {
        const openings = Math.max(1, this.openings);
        const halfOpenAt = this.scheduler.now() + this.openMs(openings);
        return { state: 'open', openings, halfOpenAt };
      }
    }
  }

  private acquireSlow(): number {
    this.refresh();
    const s = this.s;
    if (s.kind === 'closed') return this.tryAcquire();
    if (s.kind === 'half-open' && s.trials < this.halfOpenMaxCalls) {
      if (
        s.deadline === Number.POSITIVE_INFINITY &&
        this.halfOpenMaxMs < Number.POSITIVE_INFINITY
      ) {
        s.deadline = this.scheduler.now() + this.halfOpenMaxMs;
        this.arm();
      }
      s.trials++;
      this.counts.admitted++;
      return this.gen;
    }
    this.counts.rejected++;
    return -1;
  }

  private returnTrial(permit: number): void {
    const s = this.s;
    if (permit === this.gen && s.kind === 'half-open') s.trials--;
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
    if (
      this.consecutive >= this.failureThreshold ||
      (window !== null &&
        window.calls >= this.minimumCalls &&
        window.failures >= this.failureRate * window.calls)
    ) {
      this.open();
    }
  }

  /**
   * Applies the timed transitions that are due, each at its due time, so the state is the same
   * whether a timer (state$ observed) or a later call discovers them.
   */
  private refresh(): void {
    const s = this.s;
    if (s.kind !== 'open' && s.kind !== 'half-open') return;
    const now = this.scheduler.now();
    if (s.kind === 'half-open') {
      if (now < s.deadline) return;
      this.open(s.deadline);
    }
    const opened = this.s;
    if (opened.kind === 'open' && now >= opened.halfOpenAt) {
      this.enter({ kind: 'half-open', trials: 0, successes: 0, deadline: Infinity });
    }
  }

  private open(at = this.scheduler.now()): void {
    const openMs = validateOpenDuration('openMs(openings)', this.openMs(++this.openings));
    const window = this.window;
    // Opening from closed: keep the window that tripped it for stats(); a re-opening after a
    // failed trial keeps the one from before (the trials are not in the window).
    if (window !== null && this.s.kind === 'closed') {
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

  private enter(next: Internal): void {
    this.settlers = this.settlersFor(++this.gen);
    this.s = next;
    this.disarm();
    this.arm();
    this.announce(publicState(next));
  }

  /**
   * Outcome handlers for the calls `execute` admits in generation `gen`: made once per
   * transition instead of two closures per call.
   */
  private settlersFor(gen: number): {
    settled: <V>(value: V) => V;
    failed: (error: unknown) => never;
  } {
    return {
      settled: (value) => {
        this.onSuccess(gen, 0);
        return value;
      },
      failed: (error) => {
        this.onFailure(gen, error);
        throw error;
      },
    };
  }

  /** Emits transitions in order even when an observer causes another one while being told. */
  private announce(state: CircuitState): void {
    this.pending.push(state);
    if (this.announcing) return;
    this.announcing = true;
    for (let next = this.pending.shift(); next !== undefined; next = this.pending.shift()) {
      if (next === this.announced) continue;
      this.announced = next;
      this.transitions.next(next);
    }
    this.announcing = false;
  }

  /** One timer, only while state$ is observed and a timed transition is pending. */
  private arm(): void {
    if (this.timer !== null || this.observers === 0) return;
    const s = this.s;
    const at = s.kind === 'open' ? s.halfOpenAt : s.kind === 'half-open' ? s.deadline : Infinity;
    if (at === Number.POSITIVE_INFINITY) return;
    // At most the longest timer: a longer one would fire at once; this one fires, finds time
    // left (refresh does nothing) and re-arms.
    const delay = Math.min(at - this.scheduler.now(), MAX_TIMER_MS);
    this.timer = scheduleOnce(this.scheduler, delay, () => {
      this.timer = null;
      this.refresh();
      this.arm();
    });
  }

  private disarm(): void {
    this.timer?.unsubscribe();
    this.timer = null;
  }

  /** Restores a snapshot already checked by `resolveBreakerConfig`. */
  private hydrate(snapshot: CircuitBreakerSnapshot): void {
    if (snapshot.state === 'closed') return;
    this.openings = snapshot.openings;
    this.s =
      snapshot.state === 'open'
        ? { kind: 'open', halfOpenAt: snapshot.halfOpenAt }
        : { kind: 'half-open', trials: 0, successes: 0, deadline: Infinity };
    this.announced = snapshot.state;
  }
}

/** A promise rejected with `error`, whatever it is (as `execute` rejects with fn's throw). */
// eslint-disable-next-line @typescript-eslint/require-await
const rejected = async (error: unknown): Promise<never> => {
  throw error;
};
