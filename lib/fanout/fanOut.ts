import {
  Observable,
  type ObservableInput,
  type ObservedValueOf,
  type OperatorFunction,
} from 'rxjs';
import {
  validateBoolean,
  validateFunction,
  validateInteger,
  validateOneOf,
  validateOptions,
} from '../internal/validate.js';
import type { ConcurrencyLimit } from './ConcurrencyLimit.js';
import { validateConcurrency } from './internal/concurrency.js';
import { FanOutRun, type FanOutPlan } from './internal/FanOutRun.js';

/** What happens to an outer value that arrives while `maxBuffered` values already wait. */
export type FanOutOverflow = 'error' | 'drop-newest' | 'drop-oldest';

/** How inner errors end the stream. */
export type FanOutErrors = 'fail-fast' | 'collect';

/** Options of {@link fanOut}; unknown keys are rejected when the operator is created. */
export interface FanOutConfig {
  /**
   * At most this many `work` inners at once: an integer >= 1, `Infinity`, or a
   * {@link ConcurrencyLimit} (e.g. `AdaptiveLimiter`) whose limit may change while running.
   */
  concurrency: number | ConcurrencyLimit;
  /**
   * Emit results in input order (default false). Still runs `concurrency` inners at once; an
   * inner's values stay together; a finished inner keeps its slot until its values are out, so
   * the reorder buffer never holds more than `concurrency` inners' results.
   */
  ordered?: boolean;
  /** Bound on outer values waiting for a free slot: an integer >= 0 or Infinity (default). */
  maxBuffered?: number;
  /**
   * When `maxBuffered` values wait and another arrives: `'error'` (default, errors with
   * `BufferOverflowError`), `'drop-newest'` (drop the arriving value) or `'drop-oldest'` (drop
   * the value that waited longest; with `maxBuffered: 0` the arriving one).
   */
  overflow?: FanOutOverflow;
  /**
   * `'fail-fast'` (default): the first inner error errors the output and unsubscribes the other
   * inners (an errgroup). `'collect'`: keep going, then error with an `AggregateError` of every
   * inner error in the order they happened (or complete when there was none). An outer error
   * is forwarded at once in both modes.
   */
  errors?: FanOutErrors;
}

const OVERFLOWS: readonly FanOutOverflow[] = ['error', 'drop-newest', 'drop-oldest'];
const ERROR_MODES: readonly FanOutErrors[] = ['fail-fast', 'collect'];
const CONFIG_KEYS = ['concurrency', 'ordered', 'maxBuffered', 'overflow', 'errors'] as const;

/**
 * Runs `work` for each value on at most `concurrency` inners at once and merges their values:
 * the Go fan-out/fan-in with N workers. Unordered with default options it is marble-for-marble
 * `mergeMap(work, concurrency)`, without mergeMap's holes: waiting values are bounded
 * (`maxBuffered` + `overflow`), synchronous inners never grow the stack, results can be
 * `ordered`, the limit can change at run time (`ConcurrencyLimit`), and inner errors can be
 * collected instead of failing fast.
 *
 * ```
 * source:           ab-c|
 * work(a):          ----1|
 * work(b):           --2--3|
 * work(c):               --4|     starts as work(a) completes (concurrency 2)
 * fanOut(work, 2):  ---21-34|
 * ordered: true:    ----1234|     b's 2 waits for a's 1
 * ```
 *
 * @example
 * // Squares of 1..9 on 3 workers, in input order.
 * range(1, 9)
 *   .pipe(fanOut((n) => timer(Math.random() * 100).pipe(map(() => n * n)), { concurrency: 3, ordered: true }))
 *   .subscribe(console.log); // 1 4 9 16 25 36 49 64 81
 *
 * @param work Called with each value and the number of `work` calls before it; returns an
 * Observable, Promise, array or other `ObservableInput` whose values are emitted.
 * @param config The options, or just `concurrency`.
 */
export function fanOut<T, O extends ObservableInput<unknown>>(
  work: (value: T, index: number) => O,
  config: FanOutConfig | number,
): OperatorFunction<T, ObservedValueOf<O>> {
  const plan = planFanOut<T, ObservedValueOf<O>>(
    work as (value: T, index: number) => ObservableInput<ObservedValueOf<O>>,
    config,
  );
  return (source) =>
    new Observable<ObservedValueOf<O>>((subscriber) => {
      new FanOutRun(subscriber, plan).start(source);
    });
}

function planFanOut<T, R>(
  work: (value: T, index: number) => ObservableInput<R>,
  config: FanOutConfig | number,
): FanOutPlan<T, R> {
  validateFunction('work', work);
  // A misspelt key (`ordred`) fails here, naming it, instead of silently meaning the default.
  const options: FanOutConfig =
    typeof config === 'object' && config !== null
      ? validateOptions('fanOut config', config, CONFIG_KEYS)
      : { concurrency: config };
  const {
    ordered = false,
    maxBuffered = Infinity,
    overflow = 'error',
    errors = 'fail-fast',
  } = options;
  return {
    work,
    concurrency: validateConcurrency(options.concurrency, true),
    ordered: validateBoolean('ordered', ordered),
    maxBuffered: validateInteger('maxBuffered', maxBuffered, 0, { allowInfinity: true }),
    overflow: validateOneOf('overflow', overflow, OVERFLOWS),
    collect: validateOneOf('errors', errors, ERROR_MODES) === 'collect',
  };
}
