import type { SchedulerLike } from 'rxjs';
import { resolveScheduler } from '../internal/scheduler.js';
import {
  MAX_TIMER_MS,
  validateFunction,
  validateInteger,
  validateNumber,
  validateOneOf,
  validateOptions,
} from '../internal/validate.js';
import type { CircuitPhase } from './circuitBreakerTypes.js';

/** The failure-rate window: the last `size` calls, or the last `ms` milliseconds. */
export type CircuitWindow =
  { type: 'count'; size: number } | { type: 'time'; ms: number; buckets: number };

/**
 * A breaker's persistent state from `CircuitBreaker.toJSON`, accepted back as
 * `initialState` (e.g. to survive a restart). Times are `scheduler.now()` values.
 */
export type CircuitBreakerSnapshot =
  | { state: 'closed' }
  | { state: 'open'; openings: number; halfOpenAt: number }
  | { state: 'half-open'; openings: number };

/**
 * Options of `CircuitBreaker`; every one is validated when the breaker is created, unknown
 * keys included. Durations are at most 2^31 − 1 ms (the longest a timer can wait).
 */
export interface CircuitBreakerConfig {
  /** Consecutive failures that open the circuit. Default 5 when no `window` is given. */
  failureThreshold?: number;
  /**
   * Opens on a failure rate over this window (may be combined with `failureThreshold`). A
   * count window holds at most {@link MAX_COUNT_WINDOW} calls.
   */
  window?: CircuitWindow;
  /**
   * Failure fraction in (0, 1] over the window that opens the circuit. Default 0.5. Checked
   * after every recorded outcome, success or failure, once the window holds `minimumCalls`.
   */
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

/** The most calls a count window holds (one byte each, allocated when the breaker is made). */
export const MAX_COUNT_WINDOW = 1_000_000;

/** Every option of a breaker, checked and with its default filled in. */
export interface BreakerSettings {
  readonly scheduler: SchedulerLike;
  readonly window: CircuitWindow | undefined;
  readonly failureThreshold: number;
  readonly failureRate: number;
  readonly minimumCalls: number;
  readonly openMs: (openings: number) => number;
  readonly halfOpenMaxCalls: number;
  readonly successThreshold: number;
  readonly halfOpenMaxMs: number;
  readonly slowCallMs: number;
  readonly isFailure: (error: unknown) => boolean;
  readonly initialState: CircuitBreakerSnapshot | undefined;
}

const CONFIG_KEYS = [
  'failureThreshold',
  'window',
  'failureRate',
  'minimumCalls',
  'openMs',
  'halfOpenMaxCalls',
  'successThreshold',
  'halfOpenMaxMs',
  'slowCallMs',
  'isFailure',
  'initialState',
  'scheduler',
] as const;

const alwaysFailure = (): boolean => true;

/** Checks a `CircuitBreakerConfig` (throwing TypeError/RangeError naming option and value). */
export function resolveBreakerConfig(config: CircuitBreakerConfig | undefined): BreakerSettings {
  const options = validateOptions('CircuitBreaker config', config, CONFIG_KEYS);
  const window = options.window === undefined ? undefined : validateWindow(options.window);
  const failureRate =
    options.failureRate === undefined
      ? 0.5
      : validateNumber('failureRate', options.failureRate, { min: 0, max: 1, exclusiveMin: true });
  if (!window) requireWindowFor(options);
  return {
    scheduler: resolveScheduler(options.scheduler),
    window,
    failureThreshold:
      options.failureThreshold !== undefined
        ? validateInteger('failureThreshold', options.failureThreshold, 1)
        : window
          ? Number.POSITIVE_INFINITY
          : 5,
    failureRate,
    minimumCalls: validateMinimumCalls(options.minimumCalls, window),
    openMs: validateOpenMs(options.openMs ?? 10_000),
    halfOpenMaxCalls: validateInteger('halfOpenMaxCalls', options.halfOpenMaxCalls ?? 1, 1),
    successThreshold: validateInteger('successThreshold', options.successThreshold ?? 1, 1),
    halfOpenMaxMs: validateDuration('halfOpenMaxMs', options.halfOpenMaxMs),
    slowCallMs: validateDuration('slowCallMs', options.slowCallMs),
    isFailure:
      options.isFailure === undefined
        ? alwaysFailure
        : validateFunction('isFailure', options.isFailure),
    initialState:
      options.initialState === undefined ? undefined : validateSnapshot(options.initialState),
  };
}

/** failureRate and minimumCalls mean nothing without a window: say which was given, and its value. */
function requireWindowFor(options: CircuitBreakerConfig): void {
  for (const name of ['failureRate', 'minimumCalls'] as const) {
    if (options[name] !== undefined) {
      throw new TypeError(
        `${name} ${options[name]} needs a window ({ type: 'count', size } or ` +
          `{ type: 'time', ms, buckets }), got no window`,
      );
    }
  }
}

function validateMinimumCalls(value: unknown, window: CircuitWindow | undefined): number {
  const maxCalls = window?.type === 'count' ? window.size : Number.MAX_SAFE_INTEGER;
  if (value === undefined) return window?.type === 'count' ? window.size : 10;
  return validateInteger('minimumCalls', value, 1, { max: maxCalls });
}

interface LooseWindow {
  type?: unknown;
  size?: unknown;
  ms?: unknown;
  buckets?: unknown;
}

function validateWindow(value: CircuitWindow): CircuitWindow {
  // The keys allowed depend on the type, so the type is read (and checked) first.
  const loose = validateOptions<LooseWindow>('window', value, ['type', 'size', 'ms', 'buckets']);
  const type = validateOneOf('window.type', loose.type, ['count', 'time']);
  if (type === 'count') {
    const { size } = validateOptions('window', loose, ['type', 'size']);
    return { type, size: validateInteger('window.size', size, 1, { max: MAX_COUNT_WINDOW }) };
  }
  const { ms, buckets } = validateOptions('window', loose, ['type', 'ms', 'buckets']);
  return {
    type,
    ms: validateNumber('window.ms', ms, { min: 0, exclusiveMin: true, max: MAX_TIMER_MS }),
    buckets: validateInteger('window.buckets', buckets, 1, { max: 10_000 }),
  };
}

/** A duration of an opening: ms in [0, 2^31 − 1] (also checked for each backoff result). */
export function validateOpenDuration(name: string, value: unknown): number {
  return validateNumber(name, value, { min: 0, max: MAX_TIMER_MS });
}

function validateOpenMs(value: unknown): (openings: number) => number {
  if (typeof value === 'function') {
    const backoff = value as (openings: number) => number;
    validateOpenDuration('openMs(1)', backoff(1));
    return backoff;
  }
  const ms = validateOpenDuration('openMs', value);
  return () => ms;
}

/** A positive duration up to 2^31 − 1 ms, or Infinity when absent. */
function validateDuration(name: string, value: unknown): number {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  return validateNumber(name, value, { min: 0, exclusiveMin: true, max: MAX_TIMER_MS });
}

interface LooseSnapshot {
  state?: unknown;
  openings?: unknown;
  halfOpenAt?: unknown;
}

/** A snapshot, with the keys its `state` allows. */
function validateSnapshot(snapshot: CircuitBreakerSnapshot): CircuitBreakerSnapshot {
  const loose = validateOptions<LooseSnapshot>('initialState', snapshot, [
    'state',
    'openings',
    'halfOpenAt',
  ]);
  const state = validateOneOf('initialState.state', loose.state, ['closed', 'open', 'half-open']);
  if (state === 'closed') {
    validateOptions('initialState', loose, ['state']);
    return { state };
  }
  if (state === 'half-open') validateOptions('initialState', loose, ['state', 'openings']);
  const openings = validateInteger('initialState.openings', loose.openings, 1);
  if (state === 'half-open') return { state, openings };
  return {
    state,
    openings,
    halfOpenAt: validateNumber('initialState.halfOpenAt', loose.halfOpenAt),
  };
}

/** The phase and openings a snapshot restores (closed without one; half-open with no trial). */
export function restorePhase(snapshot: CircuitBreakerSnapshot | undefined): {
  phase: CircuitPhase;
  openings: number;
} {
  if (snapshot === undefined || snapshot.state === 'closed') {
    return { phase: { kind: 'closed' }, openings: 0 };
  }
  const phase: CircuitPhase =
    snapshot.state === 'open'
      ? { kind: 'open', halfOpenAt: snapshot.halfOpenAt }
      : { kind: 'half-open', trials: 0, successes: 0, deadline: Number.POSITIVE_INFINITY };
  return { phase, openings: snapshot.openings };
}

/**
 * The snapshot of a phase. An isolated circuit is saved as an ordinary opening of `openMs` from
 * now (isolation handles do not outlive the process).
 */
export function snapshotOf(
  phase: CircuitPhase,
  openings: number,
  settings: Pick<BreakerSettings, 'openMs' | 'scheduler'>,
): CircuitBreakerSnapshot {
  switch (phase.kind) {
    case 'closed':
      return { state: 'closed' };
    case 'half-open':
      return { state: 'half-open', openings };
    case 'open':
      return { state: 'open', openings, halfOpenAt: phase.halfOpenAt };
    case 'isolated': {
      const isolatedOpenings = Math.max(1, openings);
      const halfOpenAt = settings.scheduler.now() + settings.openMs(isolatedOpenings);
      return { state: 'open', openings: isolatedOpenings, halfOpenAt };
    }
  }
}
