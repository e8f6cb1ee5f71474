import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { AsyncRateLimiter, RateLimitDecision } from '../backpressure/RateLimiter.js';
import { BackendUnavailableError } from '../errors.js';
import {
  validateInteger,
  validateNonEmptyString,
  validateNumber,
  validateObject,
} from '../internal/validate.js';

/** Options of {@link RedisRateLimiter}. */
export interface RedisRateLimiterConfig {
  /** Permits per window and key, an integer >= 1. */
  limit: number;
  /** Window length in milliseconds (kept to the microsecond), > 0. */
  windowMs: number;
  /** Prefix of every Redis key (default `'rxc:rate:'`). */
  prefix?: string;
}

/**
 * Connection trouble (closed, refused, retries exhausted, `commandTimeout`) and cluster
 * reconfiguration replies become `BackendUnavailableError` (transient); other Redis replies
 * (e.g. WRONGTYPE: the key holds something else) are passed on as they are.
 */
function unavailable(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(`redis rate limit call failed: ${String(err)}`);
  const transient =
    err.name !== 'ReplyError' ||
    /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|BUSY)/.test(err.message);
  return transient
    ? new BackendUnavailableError('redis', `redis rate limit call failed: ${err.message}`, {
        cause: err,
      })
    : err;
}

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
const SCRIPT = `
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
`;
const SCRIPT_SHA = createHash('sha1').update(SCRIPT).digest('hex');

/**
 * An exact sliding-window rate limiter shared by every process that uses the same Redis and
 * prefix: at most `limit` admits per key in any `windowMs`, a permit free again exactly
 * `windowMs` after it was taken. One Lua call per decision (EVALSHA, falling back to EVAL once
 * after a script flush), Redis server time as the clock, one key per decision so it works on
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
 */
export class RedisRateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly prefix: string;
  /** The script's ARGV (limit, window µs, ttl ms), as strings once rather than per call. */
  private readonly argv: readonly [string, string, string];

  constructor(
    private readonly redis: Redis | Cluster,
    config: RedisRateLimiterConfig,
  ) {
    if (typeof redis !== 'object' || redis === null || typeof redis.evalsha !== 'function') {
      throw new TypeError('redis must be an ioredis Redis or Cluster client');
    }
    const { limit, windowMs, prefix = 'rxc:rate:' } = validateObject('config', config);
    this.limit = validateInteger('limit', limit, 1);
    this.windowMs = validateNumber('windowMs', windowMs, { min: 0.001 });
    if (typeof prefix !== 'string')
      throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
    this.prefix = prefix;
    const windowUs = Math.round(this.windowMs * 1000);
    this.argv = [String(this.limit), String(windowUs), String(Math.ceil(this.windowMs))];
  }

  /**
   * Takes a permit for `key` if fewer than `limit` were taken in the last `windowMs`. Rejects
   * with `BackendUnavailableError` when Redis cannot be reached (bound the wait with ioredis'
   * `commandTimeout` option).
   */
  async tryAcquire(key: string): Promise<RedisRateLimitDecision> {
    validateNonEmptyString('key', key);
    const args = [this.prefix + key, ...this.argv] as const;
    const reply = await this.evaluate(args).catch((err: unknown) => {
      throw unavailable(err);
    });
    const [allowed, waitUs, nowUs] = reply as [number, number, number];
    return { allowed: allowed === 1, retryAfterMs: waitUs / 1000, serverTimeUs: nowUs };
  }

  /** One call of the script: EVALSHA, or EVAL when Redis lost it (restart, SCRIPT FLUSH). */
  private async evaluate(args: readonly [string, string, string, string]): Promise<unknown> {
    try {
      return await this.redis.evalsha(SCRIPT_SHA, 1, ...args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
    }
    return this.redis.eval(SCRIPT, 1, ...args);
  }

  /** This limiter bound to one key, for `rateLimit({ limiter })`. */
  forKey(key: string): AsyncRateLimiter {
    validateNonEmptyString('key', key);
    return { tryAcquire: () => this.tryAcquire(key) };
  }
}
