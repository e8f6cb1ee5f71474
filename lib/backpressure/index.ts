// Backpressure: exact sliding-window rate limiting and adaptive (AIMD) concurrency.
export type { RateLimiter, AsyncRateLimiter, RateLimitDecision } from './RateLimiter.js';
export { SlidingWindowLimiter } from './SlidingWindowLimiter.js';
export type { SlidingWindowLimiterConfig } from './SlidingWindowLimiter.js';
export { rateLimit, MAX_PENDING_DECISIONS } from './rateLimit.js';
export type { RateLimitConfig, RateLimitOverflow } from './rateLimit.js';
export { AdaptiveLimiter } from './AdaptiveLimiter.js';
export type { AdaptiveLimiterConfig } from './AdaptiveLimiter.js';
export { GradientLimiter } from './GradientLimiter.js';
export type { GradientLimiterConfig } from './GradientLimiter.js';
export type { ConcurrencyLimiterEvent, RateLimiterEvent } from './limiterEvents.js';
