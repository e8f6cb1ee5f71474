/** A synchronous rate limiter: one decision per call, answered at once (e.g. `SlidingWindowLimiter`). */
export interface RateLimiter {
  /** Takes a permit if one is free now; false when the limit is reached. */
  tryAcquire(): boolean;
  /** Milliseconds until `tryAcquire` can succeed again (0 when it would succeed now). */
  msUntilNext(): number;
}

/** The answer of an asynchronous rate limiter. */
export interface RateLimitDecision {
  /** True when a permit was taken. */
  readonly allowed: boolean;
  /** Milliseconds until a permit frees up; 0 when `allowed`. */
  readonly retryAfterMs: number;
}

/**
 * A rate limiter whose decisions take a round trip (e.g. `RedisRateLimiter.forKey(key)`, shared
 * by many processes).
 */
export interface AsyncRateLimiter {
  /** Takes a permit if one is free now; resolves with the decision. */
  tryAcquire(): Promise<RateLimitDecision>;
}

/** True for a synchronous {@link RateLimiter} (it can say when it admits again without asking). */
export function isSyncRateLimiter(limiter: RateLimiter | AsyncRateLimiter): limiter is RateLimiter {
  return typeof (limiter as Partial<RateLimiter>).msUntilNext === 'function';
}
