import type { PermitOutcome } from '../fanout/ConcurrencyLimit.js';

/**
 * What `AdaptiveLimiter.events$` and `GradientLimiter.events$` emit, discriminated on `type`;
 * `at` is the limiter's `scheduler.now()` in ms.
 *
 * - `limit`: the concurrency limit changed from `previous` to `limit`.
 * - `rejected`: `tryAcquire` found every permit taken.
 * - `released`: a permit came back with `outcome`, `durationMs` after it was taken (permits
 *   taken while nobody observed have no start time and report nothing).
 */
export type ConcurrencyLimiterEvent =
  | {
      readonly type: 'limit';
      readonly at: number;
      readonly limit: number;
      readonly previous: number;
    }
  | { readonly type: 'rejected'; readonly at: number }
  | {
      readonly type: 'released';
      readonly at: number;
      readonly outcome: PermitOutcome;
      readonly durationMs: number;
    };

/**
 * What `SlidingWindowLimiter.events$` and `RedisRateLimiter.events$` emit, discriminated on
 * `type`; `at` is the limiter's `scheduler.now()` in ms. `key` names the `forKey` key of a
 * `RedisRateLimiter` decision (absent for a `SlidingWindowLimiter`).
 */
export type RateLimiterEvent =
  | { readonly type: 'admitted'; readonly at: number; readonly key?: string }
  | {
      readonly type: 'rejected';
      readonly at: number;
      readonly retryAfterMs: number;
      readonly key?: string;
    };
