import type { Cluster, Redis } from 'ioredis';
import { asyncScheduler, type Observable } from 'rxjs';
import type { RateLimiterEvent } from '../backpressure/limiterEvents.js';
import type { AsyncRateLimiter, RateLimitDecision } from '../backpressure/RateLimiter.js';
import { EventStream } from '../internal/EventStream.js';
import {
  MAX_TIMER_MS,
  validateInteger,
  validateMs,
  validateNonEmptyString,
  validateNumber,
  validateOptions,
} from '../internal/validate.js';
import { isRedisClient } from './redisClient.js';
import { luaScript, ScriptRunner } from './ScriptRunner.js';

/** Options of {@link RedisRateLimiter}. */
export interface RedisRateLimiterConfig {
  /** Permits per window and key, an integer >= 1. */
  limit: number;
  /** Window length in milliseconds (kept to the microsecond), > 0 and <= 2^31 - 1. */
  windowMs: number;
  /** Prefix of every Redis key (default `'rxc:rate:'`). */
  prefix?: string;
  /**
   * Deadline of one decision (ms), as in `RedisLocks`: without a reply by then `tryAcquire`
   * rejects with `BackendUnavailableError`, whatever the client's own retry settings. Default 2 000.
   */
  commandTimeoutMs?: number;
}

const OPTION_KEYS = ['limit', 'windowMs', 'prefix', 'commandTimeoutMs'] as const;

/** A decision of {@link RedisRateLimiter}, with the server time it was made at. */
export interface RedisRateLimitDecision extends RateLimitDecision {
  /** Redis server time of the decision, in microseconds since the epoch (from `TIME`). */
  readonly serverTimeUs: number;
}

/**
 * The sliding log of one key: a list of the last `limit` admit times (µs, oldest first). Admit
 * iff fewer than `limit` admits are less than a window old, exactly as `SlidingWindowLimiter`
 * does with its ring. The clock is Redis `TIME` (allowed in scripts since Redis 5's effects
 * replication), so client clocks never matter. O(1): LLEN, LINDEX at the window's edge, RPUSH,
 * LTRIM of one element, PEXPIRE so an idle key disappears once all its admits are stale.
 * KEYS[1] = log; ARGV = limit, window µs, ttl ms. Returns {allowed, wait µs, now µs}.
 */
const SCRIPT = luaScript(`
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local len = redis.call('LLEN', KEYS[1])
if len >= limit then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], len - limit))
  local wait = oldest + window - now
  if wait > 0 then return {0, wait, now} end
end
redis.call('RPUSH', KEYS[1], string.format('%d', now))
if len >= limit then redis.call('LTRIM', KEYS[1], -limit, -1) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, 0, now}
`);

/**
 * An exact sliding-window rate limiter shared by every process that uses the same Redis and
 * prefix: at most `limit` admits per key in any `windowMs`, a permit free again exactly
 * `windowMs` after it was taken. One Lua call per decision through the package's one Redis call
 * path (EVALSHA, reloaded after a script flush; a deadline per call), Redis server time as the clock, one key per decision so it works on
 * Redis Cluster as is (put a hash tag in your keys, `{tenant}:api`, to keep related keys in one
 * slot). Keys expire `windowMs` after their last admit.
 *
 * ```
 * limit 2, windowMs 4, one key, calls from processes A and B:
 *   A:  a - a - - - a -
 *   B:  - b - b - - - b
 *   ok: a b - - - - a b    (the window is shared; refusals carry retryAfterMs)
 * ```
 *
 * @example
 * const limiter = new RedisRateLimiter(new Redis(url), { limit: 100, windowMs: 60_000 });
 * const { allowed, retryAfterMs } = await limiter.tryAcquire(`user:${userId}`);
 * // or as an operator: jobs$.pipe(rateLimit({ limiter: limiter.forKey('jobs'), overflow: 'queue' }))
 * limiter.events$.subscribe((e) => e.type === 'rejected' && log.info(e)); // { key, retryAfterMs, at }
 */
export class RedisRateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly prefix: string;
  /** The script's ARGV (limit, window µs, ttl ms), as strings once rather than per call. */
  private readonly argv: readonly [string, string, string];
  private readonly runner: ScriptRunner;
  private readonly events = new EventStream<RateLimiterEvent>(asyncScheduler);
  /**
   * One event per decision, of `tryAcquire(key)` and of every `forKey(key)` limiter alike, with
   * `key` set: `admitted` or `rejected {retryAfterMs}`, emitted when Redis's answer arrives,
   * before the caller's promise resolves (so in the order the answers came, which for calls in
   * flight together need not be the order they were made). `at` is `asyncScheduler.now()`
   * (this process's `Date.now()` when the answer was read), not the Redis `TIME` that decided:
   * that is `serverTimeUs` on the decision. A call that fails (`BackendUnavailableError`,
   * `BackendRejectedError`) made no decision and emits nothing: its error goes to the caller.
   * Hot, no replay; unobserved, a decision builds nothing more.
   */
  readonly events$: Observable<RateLimiterEvent> = this.events.events$;

  constructor(redis: Redis | Cluster, config: RedisRateLimiterConfig) {
    if (!isRedisClient(redis))
      throw new TypeError('redis must be an ioredis Redis or Cluster client');
    const options = validateOptions('config', config, OPTION_KEYS);
    const { limit, windowMs, prefix = 'rxc:rate:' } = options;
    this.limit = validateInteger('limit', limit, 1);
    this.windowMs = validateNumber('windowMs', windowMs, { min: 0.001, max: MAX_TIMER_MS });
    if (typeof prefix !== 'string')
      throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
    this.prefix = prefix;
    const commandTimeoutMs = validateMs('commandTimeoutMs', options.commandTimeoutMs ?? 2000, 1);
    const windowUs = Math.round(this.windowMs * 1000);
    this.argv = [String(this.limit), String(windowUs), String(Math.ceil(this.windowMs))];
    // No clock of its own is read (Redis TIME decides): the scheduler only runs the deadline.
    this.runner = new ScriptRunner(redis, [SCRIPT], commandTimeoutMs, asyncScheduler);
  }

  /**
   * Takes a permit for `key` if fewer than `limit` were taken in the last `windowMs`. Rejects
   * with `BackendUnavailableError` when Redis does not answer within `commandTimeoutMs` or cannot
   * be reached, and with the fatal `BackendRejectedError` when Redis refuses the call (the key
   * holds something else: WRONGTYPE).
   */
  async tryAcquire(key: string): Promise<RedisRateLimitDecision> {
    validateNonEmptyString('key', key);
    const reply = await this.runner.run(SCRIPT, [this.prefix + key], this.argv);
    const [allowed, waitUs, nowUs] = reply as [number, number, number];
    const retryAfterMs = waitUs / 1000;
    if (this.events.observed) {
      this.events.emit(
        allowed === 1 ? { type: 'admitted', key } : { type: 'rejected', retryAfterMs, key },
      );
    }
    return { allowed: allowed === 1, retryAfterMs, serverTimeUs: nowUs };
  }

  /** This limiter bound to one key, for `rateLimit({ limiter })`. */
  forKey(key: string): AsyncRateLimiter {
    validateNonEmptyString('key', key);
    return { tryAcquire: () => this.tryAcquire(key) };
  }
}
