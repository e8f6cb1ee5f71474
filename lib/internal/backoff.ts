/**
 * The jittered exponential backoff shared by `retryBackoff` and `supervise`: one copy of the
 * option checks and of the delay formulas, so both operators wait exactly the same delays for
 * the same options.
 */
import { validateFunction, validateNumber, validateOneOf, MAX_TIMER_MS } from './validate.js';

/** How the delay is randomised. `'full'` (the default) spreads retries best under contention. */
export type Jitter = 'full' | 'equal' | 'decorrelated' | 'none';

/** The backoff options as the user writes them (validated by {@link validateBackoff}). */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  jitter?: Jitter;
  random?: () => number;
}

/** Validated backoff settings, defaults filled in. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: Jitter;
  readonly random: () => number;
}

/** The option keys of {@link BackoffOptions}, for `validateOptions`. */
export const BACKOFF_KEYS = ['initialMs', 'maxMs', 'factor', 'jitter', 'random'] as const;

/** Checks the backoff options (at operator creation), naming the option and the value. */
export function validateBackoff(options: BackoffOptions): Backoff {
  const initialMs = validateNumber('initialMs', options.initialMs, { min: 0 });
  const maxMs = validateNumber('maxMs', options.maxMs, { min: initialMs, max: MAX_TIMER_MS });
  const factor = validateNumber('factor', options.factor ?? 2, { min: 1 });
  const jitter = validateOneOf<Jitter>('jitter', options.jitter ?? 'full', [
    'full',
    'equal',
    'decorrelated',
    'none',
  ]);
  const random = validateFunction<() => number>('random', options.random ?? Math.random);
  return { initialMs, maxMs, factor, jitter, random };
}

/**
 * The delay before retry `k` (0-based). With base = min(maxMs, initialMs × factor^k):
 * `'none'` base; `'full'` uniform in [0, base); `'equal'` uniform in [base/2, base);
 * `'decorrelated'` (AWS) min(maxMs, uniform in [initialMs, 3 × previousMs)), where
 * `previousMs` is the delay before the previous retry (initialMs for the first).
 * Draws `random()` once unless jitter is `'none'`.
 */
export function backoffDelay(backoff: Backoff, k: number, previousMs: number): number {
  const { initialMs, maxMs, factor, random } = backoff;
  const base = Math.min(maxMs, initialMs * factor ** k);
  switch (backoff.jitter) {
    case 'none':
      return base;
    case 'full':
      return random() * base;
    case 'equal':
      return base / 2 + (random() * base) / 2;
    case 'decorrelated':
      return Math.min(maxMs, initialMs + random() * (previousMs * 3 - initialMs));
  }
}
