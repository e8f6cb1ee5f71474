import type { SchedulerLike } from 'rxjs';
import { resolveScheduler } from '../internal/scheduler.js';
import { validateInteger, validateNumber, validateObject } from '../internal/validate.js';
import type { RateLimiter } from './RateLimiter.js';

/** Options of {@link SlidingWindowLimiter}. */
export interface SlidingWindowLimiterConfig {
  /** Permits per window, an integer >= 1. */
  limit: number;
  /** Window length in milliseconds, > 0. */
  windowMs: number;
  /** Clock (`scheduler.now()`); default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/**
 * An exact sliding-window rate limiter: at most `limit` permits in any `windowMs`, and a permit
 * taken at time t is free again at exactly t + windowMs. It keeps the times of the last `limit`
 * permits in a ring, so `tryAcquire` is O(1) and memory is O(limit), with no garbage per call.
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
 */
export class SlidingWindowLimiter implements RateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  private readonly scheduler: SchedulerLike;
  /** Times of the last `limit` permits; `-Infinity` for never used. */
  private readonly ring: Float64Array;
  /** Index of the oldest of those times: the next slot to reuse. */
  private oldest = 0;

  constructor(config: SlidingWindowLimiterConfig) {
    const { limit, windowMs, scheduler } = validateObject('config', config);
    this.limit = validateInteger('limit', limit, 1);
    this.windowMs = validateNumber('windowMs', windowMs, { min: 0, exclusiveMin: true });
    this.scheduler = resolveScheduler(scheduler);
    this.ring = new Float64Array(this.limit).fill(Number.NEGATIVE_INFINITY);
  }

  /** Takes a permit if fewer than `limit` were taken in the last `windowMs`. O(1). */
  tryAcquire(): boolean {
    const now = this.scheduler.now();
    if (now - this.ring[this.oldest] < this.windowMs) return false;
    this.ring[this.oldest] = now;
    this.oldest = this.oldest + 1 === this.limit ? 0 : this.oldest + 1;
    return true;
  }

  /** Milliseconds until the oldest permit in the window frees up; 0 when one is free now. */
  msUntilNext(): number {
    const wait = this.windowMs - (this.scheduler.now() - this.ring[this.oldest]);
    return wait > 0 ? wait : 0;
  }
}
