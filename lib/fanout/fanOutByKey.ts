import {
  Observable,
  type ObservableInput,
  type ObservedValueOf,
  type OperatorFunction,
} from 'rxjs';
import {
  validateFunction,
  validateInteger,
  validateOneOf,
  validateOptions,
} from '../internal/validate.js';
import type { ConcurrencyLimit } from './ConcurrencyLimit.js';
import type { FanOutOverflow } from './fanOut.js';
import { validateConcurrency } from './internal/concurrency.js';
import { KeyedRun, type KeyedPlan } from './internal/KeyedRun.js';

/** Options of {@link fanOutByKey}; unknown keys are rejected when the operator is created. */
export interface FanOutByKeyConfig {
  /** At most this many inners at once over all keys: an integer >= 1, Infinity or a ConcurrencyLimit. */
  concurrency: number | ConcurrencyLimit;
  /** Bound on values waiting (for their key or for a worker), over all keys; default Infinity. */
  maxBuffered?: number;
  /**
   * When `maxBuffered` values wait and another arrives: `'error'` (default,
   * `BufferOverflowError`), `'drop-newest'` (drop the arriving value) or `'drop-oldest'` (drop
   * the value that has waited longest, whatever its key).
   */
  overflow?: FanOutOverflow;
}

const OVERFLOWS: readonly FanOutOverflow[] = ['error', 'drop-newest', 'drop-oldest'];
const CONFIG_KEYS = ['concurrency', 'maxBuffered', 'overflow'] as const;

/**
 * Fans out by key: values with equal keys (`===`/SameValueZero, as in a `Map`) run one at a
 * time in arrival order; different keys run in parallel, at most `concurrency` at once. Per-key
 * state is freed as soon as a key has nothing running or waiting, so millions of distinct keys
 * do not grow memory. When a worker frees up, keys waiting for one are served first come, first
 * served. Errors fail fast.
 *
 * ```
 * source:                     abcd|      a and c have key x; b and d have key y
 * work(v):                     --v|
 * fanOutByKey(key, work, 4):   --ab-cd|   c waits for a, d waits for b
 * ```
 *
 * @example
 * // Apply account events in order per account, up to 8 accounts at once.
 * events$.pipe(fanOutByKey((e) => e.accountId, (e) => applyEvent(e), { concurrency: 8 }));
 */
export function fanOutByKey<T, K, O extends ObservableInput<unknown>>(
  keyOf: (value: T) => K,
  work: (value: T, index: number) => O,
  config: FanOutByKeyConfig | number,
): OperatorFunction<T, ObservedValueOf<O>> {
  const options: FanOutByKeyConfig =
    typeof config === 'object' && config !== null
      ? validateOptions('fanOutByKey config', config, CONFIG_KEYS)
      : { concurrency: config };
  const { maxBuffered = Infinity, overflow = 'error' } = options;
  const plan: KeyedPlan<T, K, ObservedValueOf<O>> = {
    keyOf: validateFunction('keyOf', keyOf),
    work: validateFunction('work', work),
    concurrency: validateConcurrency(options.concurrency, true),
    maxBuffered: validateInteger('maxBuffered', maxBuffered, 0, { allowInfinity: true }),
    overflow: validateOneOf('overflow', overflow, OVERFLOWS),
  };
  return (source) =>
    new Observable<ObservedValueOf<O>>((subscriber) => {
      new KeyedRun(subscriber, plan).start(source);
    });
}
