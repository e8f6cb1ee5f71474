import type { BrokenCircuitError } from '../errors.js';

/**
 * The start time `callStart()` gives a call nobody times (no `slowCallMs`, `events$` not
 * observed when it was admitted): the clock was not read, so its outcome has no duration.
 */
export const UNTIMED = Number.NEGATIVE_INFINITY;

/** The breaker's low-level call API, on which `execute` is built as the operator is. */
export interface PermitSource {
  tryAcquire(): number;
  rejection(): BrokenCircuitError;
  callStart(): number;
  onSuccess(permit: number, startedAt: number): void;
  onFailure(permit: number, error: unknown, startedAt?: number): void;
}

/**
 * Runs the calls of `CircuitBreaker.execute`. An untimed call settles through outcome handlers
 * made once per generation (= permit) instead of two closures per call; a timed call runs in an
 * async function that keeps its start time.
 */
export class ExecuteRunner {
  private generation = Number.NaN;
  private settled: <V>(value: V) => V = (value) => value;
  private failed: (error: unknown) => never = rethrow;

  constructor(private readonly breaker: PermitSource) {}

  run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError('execute(fn) needs a function'));
    }
    const breaker = this.breaker;
    const permit = breaker.tryAcquire();
    if (permit < 0) return Promise.reject(breaker.rejection());
    const startedAt = breaker.callStart();
    if (startedAt !== UNTIMED) return this.runTimed(fn, permit, startedAt);
    if (permit !== this.generation) this.settleIn(permit);
    // Read before fn runs: a call fn makes may start the next generation's handlers.
    const { settled, failed } = this;
    let result: T | PromiseLike<T>;
    try {
      result = fn();
    } catch (error) {
      breaker.onFailure(permit, error);
      return rejected(error);
    }
    return Promise.resolve(result).then(settled, failed);
  }

  private async runTimed<T>(
    fn: () => T | PromiseLike<T>,
    permit: number,
    startedAt: number,
  ): Promise<T> {
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      this.breaker.onFailure(permit, error, startedAt);
      throw error;
    }
    this.breaker.onSuccess(permit, startedAt);
    return value;
  }

  /** The outcome handlers of `generation`'s untimed calls (made at its first call). */
  private settleIn(generation: number): void {
    const breaker = this.breaker;
    this.generation = generation;
    this.settled = (value) => {
      breaker.onSuccess(generation, UNTIMED);
      return value;
    };
    this.failed = (error) => {
      breaker.onFailure(generation, error);
      throw error;
    };
  }
}

const rethrow = (error: unknown): never => {
  throw error;
};

/** A promise rejected with `error`, whatever it is (as `execute` rejects with fn's throw). */
// eslint-disable-next-line @typescript-eslint/require-await
const rejected = async (error: unknown): Promise<never> => {
  throw error;
};
