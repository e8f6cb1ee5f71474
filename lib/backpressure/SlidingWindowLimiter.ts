import type { Observable, SchedulerLike } from 'rxjs';
import { EventStream } from '../internal/EventStream.js';
import { resolveScheduler } from '../internal/scheduler.js';
import {
  MAX_TIMER_MS,
  validateInteger,
  validateNumber,
  validateOptions,
} from '../internal/validate.js';
import type { RateLimiterEvent } from './limiterEvents.js';
import type { RateLimiter } from './RateLimiter.js';

/** Options of {@link SlidingWindowLimiter}. */
export interface SlidingWindowLimiterConfig {
  /** Permits per window, an integer in [1, 2^31 − 1]. */
  limit: number;
  /** Window length in milliseconds, > 0 and <= 2^31 − 1 (the longest timer a queue can wait). */
  windowMs: number;
  /** Clock (`scheduler.now()`, also `at` of `events$`); default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/** The largest `limit` accepted (2^31 − 1): beyond, counts stop being exact small integers. */
export const MAX_RATE_LIMIT = 2 ** 31 - 1;

const CONFIG_KEYS = ['limit', 'windowMs', 'scheduler'] as const;

/** Slots a limiter starts with; the ring doubles (up to `limit`) only when they are all held. */
const INITIAL_SLOTS = 16;

/** Validates `limit` and `windowMs` (shared with `rateLimit`, which checks them at creation). */
export function validateWindowLimit(limit: unknown, windowMs: unknown): [number, number] {
  return [
    validateInteger('limit', limit, 1, { max: MAX_RATE_LIMIT }),
    validateNumber('windowMs', windowMs, { min: 0, exclusiveMin: true, max: MAX_TIMER_MS }),
  ];
}

/**
 * The sliding log behind {@link SlidingWindowLimiter}, without option checks: `rateLimit`
 * validates once at creation and makes one per subscription from the checked values.
 */
export class WindowRing implements RateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  /** Times of the permits in the window, oldest at `head`; `count` of them are live. */
  private ring: Float64Array;
  private head = 0;
  private count = 0;

  constructor(
    limit: number,
    windowMs: number,
    private readonly scheduler: SchedulerLike,
  ) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.ring = new Float64Array(Math.min(limit, INITIAL_SLOTS));
  }

  /** Takes a permit if fewer than `limit` were taken in the last `windowMs`. O(1) amortised. */
  tryAcquire(): boolean {
    const now = this.scheduler.now();
    const ring = this.ring;
    // Forget the permits that have left the window (each once: O(1) amortised).
    while (this.count > 0 && now - ring[this.head] >= this.windowMs) {
      this.head = this.head + 1 === ring.length ? 0 : this.head + 1;
      this.count--;
    }
    if (this.count === this.limit) return false;
    if (this.count === ring.length) this.grow();
    const tail = this.head + this.count;
    const length = this.ring.length;
    this.ring[tail >= length ? tail - length : tail] = now;
    this.count++;
    return true;
  }

  /** Milliseconds until the oldest permit in the window frees up; 0 when one is free now. */
  msUntilNext(): number {
    // Fewer than `limit` held (expired ones included): one is free. Else the oldest decides
    // (if it has expired, the wait is <= 0).
    if (this.count < this.limit) return 0;
    const wait = this.windowMs - (this.scheduler.now() - this.ring[this.head]);
    return wait > 0 ? wait : 0;
  }

  /** Doubles the ring (at most to `limit`), oldest time first. */
  private grow(): void {
    const old = this.ring;
    const next = new Float64Array(Math.min(this.limit, old.length * 2));
    next.set(old.subarray(this.head));
    next.set(old.subarray(0, this.head), old.length - this.head);
    this.ring = next;
    this.head = 0;
  }
}

/**
 * An exact sliding-window rate limiter: at most `limit` permits in any `windowMs`, and a permit
 * taken at time t is free again at exactly t + windowMs. It keeps the times of the permits still
 * in the window, oldest first, in a ring that starts small and doubles only when every slot is
 * held: creating one costs the same whatever `limit` is, memory follows the permits actually
 * held (at most `limit`), and `tryAcquire` is O(1) amortised (each time leaves the ring once),
 * with no garbage per call.
 *
 * ```
 * limit 2, windowMs 4   calls:  a b c - - d e f -
 *                       admit:  a b - - - d e - -   (d reuses a's permit, e reuses b's)
 * ```
 *
 * @example
 * const limiter = new SlidingWindowLimiter({ limit: 100, windowMs: 1_000 });
 * if (limiter.tryAcquire()) send(request);
 * else reply(429, { retryAfterMs: limiter.msUntilNext() });
 * limiter.events$.subscribe((e) => e.type === 'rejected' && log.warn(e)); // { retryAfterMs, at }
 */
export class SlidingWindowLimiter extends WindowRing {
  private readonly events: EventStream<RateLimiterEvent>;
  /**
   * One event per `tryAcquire`, emitted before it returns (hot, no replay; `at` is
   * `scheduler.now()`): `admitted`, or `rejected {retryAfterMs}` with what `msUntilNext()` says
   * then. No `key`. Unobserved, `tryAcquire` pays one branch and builds nothing.
   */
  readonly events$: Observable<RateLimiterEvent>;

  constructor(config: SlidingWindowLimiterConfig) {
    const options = validateOptions('SlidingWindowLimiter config', config, CONFIG_KEYS);
    const [limit, windowMs] = validateWindowLimit(options.limit, options.windowMs);
    const scheduler = resolveScheduler(options.scheduler);
    super(limit, windowMs, scheduler);
    this.events = new EventStream(scheduler);
    this.events$ = this.events.events$;
  }

  override tryAcquire(): boolean {
    const admitted = super.tryAcquire();
    if (this.events.observed) {
      this.events.emit(
        admitted ? { type: 'admitted' } : { type: 'rejected', retryAfterMs: this.msUntilNext() },
      );
    }
    return admitted;
  }
}
