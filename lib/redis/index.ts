// Entry `rxjs-concurrency/redis` (needs ioredis).
export * from './RedisLocks.js';
export * from './RedisRateLimiter.js';
export * from './RedisElection.js';
