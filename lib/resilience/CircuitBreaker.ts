import { Observable, Subject, type SchedulerLike, type Subscription } from 'rxjs';
import { BrokenCircuitError } from '../errors.js';
import { resolveScheduler, scheduleOnce } from '../internal/scheduler.js';
import {
  validateFunction,
  validateInteger,
  validateNumber,
  validateObject,
  validateOneOf,
} from '../internal/validate.js';
import { CountWindow, TimeWindow, type OutcomeWindow } from './windows.js';

/** The three states of a circuit. An isolated circuit reports `'open'`. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** The failure-rate window: the last `size` calls, or the last `ms` milliseconds. */
export type CircuitWindow =
  { type: 'count'; size: number } | { type: 'time'; ms: number; buckets: number };

/**
 * A breaker's persistent state from {@link CircuitBreaker.toJSON}, accepted back as
 * `initialState` (e.g. to survive a restart). Times are `scheduler.now()` values.
 */
export type CircuitBreakerSnapshot =
  | { state: 'closed' }
  | { state: 'open'; openings: number; halfOpenAt: number }
  | { state: 'half-open'; openings: number };

/** Options of {@link CircuitBreaker}; every one is validated when the breaker is created. */
export interface CircuitBreakerConfig {
  /** Consecutive failures that open the circuit. Default 5 when no `window` is given. */
  failureThreshold?: number;
  /** Opens on a failure rate over this window (may be combined with `failureThreshold`). */
  window?: CircuitWindow;
  /** Failure fraction in (0, 1] over the window that opens the circuit. Default 0.5. */
  failureRate?: number;
  /** Calls the window must hold before the rate counts. Default: count size, or 10. */
  minimumCalls?: number;
  /** How long the circuit stays open: ms, or a backoff of the consecutive opening (1, 2, …). Default 10 000. */
  openMs?: number | ((openings: number) => number);
  /** Trial calls admitted at once while half-open; the rest are refused at once. Default 1. */
  halfOpenMaxCalls?: number;
  /** Successful trials that close the circuit. Default 1. */
  successThreshold?: number;
  /** Half-open lasts at most this long after its first trial; then it opens again. Default Infinity. */
  halfOpenMaxMs?: number;
  /**
   * A success that took this long or longer counts as a failure (toward failureThreshold, the
   * window's rate, and as a failed trial); the caller still gets its value.
   */
  slowCallMs?: number;
  /** Which errors count. `false` → the call counts as neither failure nor success. Default: all. */
  isFailure?: (error: unknown) => boolean;
  /** Restores a {@link CircuitBreakerSnapshot}. */
  initialState?: CircuitBreakerSnapshot;
  /** Clock and timer. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

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
  /** Calls and failures in the rate window now (0 without a window). */
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
    const c = validateObject('CircuitBreaker config', config);
    this.scheduler = resolveScheduler(c.scheduler);
    const window = c.window === undefined ? undefined : validateWindow(c.window);
    this.failureThreshold =
      c.failureThreshold !== undefined
        ? validateInteger('failureThreshold', c.failureThreshold, 1)
        : window
          ? Number.POSITIVE_INFINITY
          : 5;
    if (!window && (c.failureRate !== undefined || c.minimumCalls !== undefined)) {
      throw new TypeError('failureRate and minimumCalls need a window');
    }
    this.failureRate =
      c.failureRate === undefined
        ? 0.5
        : validateNumber('failureRate', c.failureRate, { min: 0, max: 1, exclusiveMin: true });
    const maxCalls = window?.type === 'count' ? window.size : Number.MAX_SAFE_INTEGER;
    this.minimumCalls =
      c.minimumCalls === undefined
        ? window?.type === 'count'
          ? window.size
          : 10
        : validateInteger('minimumCalls', c.minimumCalls, 1, { max: maxCalls });
    this.window =
      window === undefined
        ? null
        : window.type === 'count'
          ? new CountWindow(window.size)
          : new TimeWindow(window.ms, window.buckets, this.scheduler);
    this.openMs = validateOpenMs(c.openMs ?? 10_000);
    this.halfOpenMaxCalls = validateInteger('halfOpenMaxCalls', c.halfOpenMaxCalls ?? 1, 1);
    this.successThreshold = validateInteger('successThreshold', c.successThreshold ?? 1, 1);
    this.halfOpenMaxMs = validateDuration('halfOpenMaxMs', c.halfOpenMaxMs);
    this.slowCallMs = validateDuration('slowCallMs', c.slowCallMs);
    this.isFailure =
      c.isFailure === undefined ? () => true : validateFunction('isFailure', c.isFailure);
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
    if (s.kind === 'closed') {
      if (slow) this.failedWhileClosed();
      else {
        this.consecutive = 0;
        this.window?.record(false);
      }
    } else if (s.kind === 'half-open') {
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
    if (s.kind === 'closed') this.failedWhileClosed();
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
    if (this.isolations++ === 0) this.enter(ISOLATED);
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
    return {
      state: publicState(s),
      ...this.counts,
      consecutiveFailures: this.consecutive,
      windowCalls: this.window?.calls ?? 0,
      windowFailures: this.window?.failures ?? 0,
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

  private failedWhileClosed(): void {
    this.consecutive++;
    const window = this.window;
    window?.record(true);
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
    const openMs = this.openMs(++this.openings);
    validateNumber('openMs(openings)', openMs, { min: 0 });
    this.consecutive = 0;
    this.window?.clear();
    this.enter({ kind: 'open', halfOpenAt: at + openMs });
  }

  private close(): void {
    this.openings = 0;
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
    this.timer = scheduleOnce(this.scheduler, at - this.scheduler.now(), () => {
      this.timer = null;
      this.refresh();
      this.arm();
    });
  }

  private disarm(): void {
    this.timer?.unsubscribe();
    this.timer = null;
  }

  private hydrate(snapshot: CircuitBreakerSnapshot): void {
    validateObject('initialState', snapshot);
    const state = validateOneOf('initialState.state', snapshot.state, [
      'closed',
      'open',
      'half-open',
    ]);
    if (snapshot.state === 'closed') return;
    this.openings = validateInteger('initialState.openings', snapshot.openings, 1);
    this.s =
      snapshot.state === 'open'
        ? {
            kind: 'open',
            halfOpenAt: validateNumber('initialState.halfOpenAt', snapshot.halfOpenAt),
          }
        : { kind: 'half-open', trials: 0, successes: 0, deadline: Infinity };
    this.announced = state;
  }
}

/** A promise rejected with `error`, whatever it is (as `execute` rejects with fn's throw). */
// eslint-disable-next-line @typescript-eslint/require-await
const rejected = async (error: unknown): Promise<never> => {
  throw error;
};

function validateWindow(value: CircuitWindow): CircuitWindow {
  const w = validateObject('window', value);
  const type = validateOneOf('window.type', w.type, ['count', 'time']);
  if (type === 'count') {
    return { type, size: validateInteger('window.size', (w as { size?: unknown }).size, 1) };
  }
  const { ms, buckets } = w as { ms?: unknown; buckets?: unknown };
  return {
    type,
    ms: validateNumber('window.ms', ms, { min: 0, exclusiveMin: true }),
    buckets: validateInteger('window.buckets', buckets, 1, { max: 10_000 }),
  };
}

function validateOpenMs(value: unknown): (openings: number) => number {
  if (typeof value === 'function') {
    const backoff = value as (openings: number) => number;
    validateNumber('openMs(1)', backoff(1), { min: 0 });
    return backoff;
  }
  const ms = validateNumber('openMs', value, { min: 0 });
  return () => ms;
}

/** A positive duration, or Infinity when absent. */
function validateDuration(name: string, value: unknown): number {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  return validateNumber(name, value, { min: 0, exclusiveMin: true });
}
