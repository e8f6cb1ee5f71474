import { BehaviorSubject, Subject, type Observable, type SchedulerLike } from 'rxjs';
import type { ConcurrencyLimit, Permit, PermitOutcome } from '../fanout/ConcurrencyLimit.js';
import { EventStream } from '../internal/EventStream.js';
import { resolveScheduler } from '../internal/scheduler.js';
import { validateInteger, validateNumber, validateOptions } from '../internal/validate.js';
import type { ConcurrencyLimiterEvent } from './limiterEvents.js';

/** Options of {@link AdaptiveLimiter} (unknown keys are rejected at creation). */
export interface AdaptiveLimiterConfig {
  /** Starting limit, within [min, max]. */
  initial: number;
  /** Lowest limit, an integer >= 1. */
  min: number;
  /** Highest limit, an integer >= min. */
  max: number;
  /** Added to the limit per round trip at full use (default 1): see {@link AdaptiveLimiter}. */
  increase?: number;
  /** The limit is multiplied by this (and rounded down) on 'dropped', in (0, 1) (default 0.9). */
  decreaseFactor?: number;
  /** Clock of `events$` (`at`, `released.durationMs`); default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

const CONFIG_KEYS = ['initial', 'min', 'max', 'increase', 'decreaseFactor', 'scheduler'] as const;

/**
 * An AIMD (additive increase, multiplicative decrease) concurrency limit, the rule of TCP
 * congestion avoidance applied to in-flight calls (as Netflix's concurrency-limits `AIMDLimit`):
 *
 * - a permit released with 'success' raises the limit by `increase` if, when it was taken, it
 *   filled the limit (in-flight work was at the limit: the limit was what held us back) and the
 *   limit has not changed since; so the limit grows by `increase` per round trip at full use,
 *   not per success (a batch of successes finishing together raises it once, not N times);
 * - 'dropped' (error, timeout, refusal) multiplies the limit by `decreaseFactor`, once per
 *   congestion event: drops of permits taken before the last decrease do not decrease again
 *   (they were admitted under the old limit), so a burst of N failures does not shrink it N times;
 * - 'ignored' (cancelled) changes nothing;
 * - the limit stays within [min, max]; lowering it lets in-flight work finish and admits nothing
 *   new until `inflight` is below it.
 *
 * It implements `ConcurrencyLimit`, so `fanOut(work, { concurrency: limiter })` adapts.
 *
 * ```
 * initial 4; each round takes every permit; the service handles 5 calls per round:
 * round:   1  2  3  4  5  6
 * limit:   4  5  6  5  6  5     (+1 after a round of successes; 1 drop: floor(6 * 0.9) = 5)
 * ```
 *
 * @example
 * const limiter = new AdaptiveLimiter({ initial: 10, min: 1, max: 200 });
 * requests$.pipe(fanOut((req) => callService(req), { concurrency: limiter }));
 * limiter.limit$.subscribe((limit) => metrics.gauge('limit', limit));
 * limiter.events$.subscribe((event) => log.debug(event)); // { type: 'limit', limit: 5, previous: 4, at }
 */
export class AdaptiveLimiter implements ConcurrencyLimit {
  readonly min: number;
  readonly max: number;
  readonly increase: number;
  readonly decreaseFactor: number;
  private inflightCount = 0;
  /** Bumped by every decrease; a drop counts only for permits taken in the current epoch. */
  private epoch = 0;
  private readonly limitSubject: BehaviorSubject<number>;
  private readonly availableSubject = new Subject<void>();
  private readonly scheduler: SchedulerLike;
  private readonly events: EventStream<ConcurrencyLimiterEvent>;

  /** The limit now, then every change. */
  readonly limit$: Observable<number>;
  /** Emits after every release and every raise of the limit: `tryAcquire` may succeed again. */
  readonly available$: Observable<void> = this.availableSubject.asObservable();
  /**
   * What the limiter decides, as it decides it (hot, no replay; `at` is `scheduler.now()`):
   * `rejected` when `tryAcquire` returns null; `released {outcome, durationMs}` when a permit
   * comes back, then `limit {limit, previous}` if that release changed the limit (before
   * `limit$` and `available$` emit). Only permits taken while someone subscribed report
   * `released`: the start time is read only then, so an unobserved limiter reads no clock.
   */
  readonly events$: Observable<ConcurrencyLimiterEvent>;

  constructor(config: AdaptiveLimiterConfig) {
    const {
      initial,
      min,
      max,
      increase = 1,
      decreaseFactor = 0.9,
      scheduler,
    } = validateOptions('AdaptiveLimiter config', config, CONFIG_KEYS);
    this.min = validateInteger('min', min, 1);
    this.max = validateInteger('max', max, this.min);
    this.increase = validateInteger('increase', increase, 1);
    this.decreaseFactor = validateNumber('decreaseFactor', decreaseFactor, {
      min: 0,
      exclusiveMin: true,
      max: 1,
    });
    if (this.decreaseFactor === 1) throw new RangeError('decreaseFactor must be < 1, got 1');
    this.limitSubject = new BehaviorSubject(
      validateInteger('initial', initial, this.min, { max: this.max }),
    );
    this.limit$ = this.limitSubject.asObservable();
    this.scheduler = resolveScheduler(scheduler);
    this.events = new EventStream(this.scheduler);
    this.events$ = this.events.events$;
  }

  /** The current maximum number of permits out at once. */
  get limit(): number {
    return this.limitSubject.value;
  }

  /** Permits out now. */
  get inflight(): number {
    return this.inflightCount;
  }

  /** A permit, or null when `inflight >= limit`. Release it with the work's outcome. */
  tryAcquire(): Permit | null {
    if (this.inflightCount >= this.limit) {
      if (this.events.observed) this.events.emit({ type: 'rejected' });
      return null;
    }
    this.inflightCount++;
    // The limit this permit filled (0 if it did not): a success raises only that same limit.
    const filled = this.inflightCount >= this.limit ? this.limit : 0;
    const epoch = this.epoch;
    // Taken while unobserved: no start time, so it reports no `released`.
    const start = this.events.observed ? this.scheduler.now() : undefined;
    let released = false;
    return {
      release: (outcome: PermitOutcome) => {
        if (released) return;
        released = true;
        this.inflightCount--;
        if (start !== undefined && this.events.observed) {
          this.events.emit({ type: 'released', outcome, durationMs: this.scheduler.now() - start });
        }
        if (outcome === 'success' && filled === this.limit)
          this.setLimit(this.limit + this.increase);
        else if (outcome === 'dropped' && epoch === this.epoch) {
          this.epoch++;
          this.setLimit(Math.floor(this.limit * this.decreaseFactor));
        }
        this.availableSubject.next();
      },
    };
  }

  private setLimit(wanted: number): void {
    const limit = Math.min(this.max, Math.max(this.min, wanted));
    if (limit === this.limit) return;
    if (this.events.observed) this.events.emit({ type: 'limit', limit, previous: this.limit });
    this.limitSubject.next(limit);
  }
}
