import type { Cluster, Redis } from 'ioredis';
import { asyncScheduler, type Observable, type SchedulerLike } from 'rxjs';
import { resolveScheduler } from '../internal/scheduler.js';
import { validateMs, validateOptions } from '../internal/validate.js';
import { LockEvents } from '../lock/LeaseEnd.js';
import {
  resolveAcquireOptions,
  type AcquireOptions,
  type LockBackend,
  type LockEvent,
  type LockLease,
} from '../lock/LockBackend.js';
import { QuorumRedisLocks } from './QuorumRedisLocks.js';
import { isRedisClient } from './redisClient.js';
import { SingleRedisLocks, type RedisLocksSettings } from './SingleRedisLocks.js';
import { MIN_TTL_MS } from './TimedLease.js';

/**
 * Suffixes of the internal keys and channel of a lock (`key:fence`, `key:queue`, ...): a lock
 * named with one of them would be another lock's internal key, so acquire rejects it.
 */
export const RESERVED_SUFFIXES: readonly string[] = [':fence', ':queue', ':waiters', ':wake'];

/** What a wrong first argument was, for the message: a string as written, an object by its class. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  if (Array.isArray(value)) return 'an array';
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== 'Object' ? `an instance of ${name}` : 'an object';
}

/**
 * The clients of `redis` (one, or an array for quorum mode); a TypeError naming the argument, or
 * the array element, and what it got otherwise (an etcd3 client, a URL, `{}`).
 */
function validateClients(redis: unknown): readonly (Redis | Cluster)[] {
  const expected = 'an ioredis Redis or Cluster client, or an array of Redis clients';
  if (!Array.isArray(redis)) {
    if (isRedisClient(redis)) return [redis];
    throw new TypeError(`redis must be ${expected}, got ${describe(redis)}`);
  }
  if (redis.length === 0) throw new TypeError(`redis must be ${expected}, got an empty array`);
  const bad = redis.findIndex((c) => !isRedisClient(c));
  if (bad >= 0) {
    throw new TypeError(
      `redis[${bad}] must be an ioredis Redis client, got ${describe(redis[bad])}`,
    );
  }
  return redis as (Redis | Cluster)[];
}

/** Options of {@link RedisLocks}. */
export interface RedisLocksConfig {
  /** Prepended to every key. Default `''` (so redlock/redsync clients on the same key interoperate). */
  prefix?: string;
  /** Deadline of each Redis call in ms; past it the call fails with `BackendUnavailableError`. Default 2000. */
  commandTimeoutMs?: number;
  /**
   * How often a waiter re-checks without a wake-up message (a lost message, a holder that
   * expired, a non-RedisLocks client that released without publishing), in ms. Default 1000.
   * A waiter's queue entry lives three times this long without a refresh.
   */
  recheckMs?: number;
  /** Clock and timers (TTL tracking, re-checks, deadlines). Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/**
 * Distributed locks on one Redis (or Redis Cluster): waiting is FIFO and push-based, the lock
 * passes straight from one holder to the next, leases carry fencing tokens and report their loss.
 *
 * - Acquire is one Lua call: `SET key token NX PX ttl` when the key is free and no live waiter
 *   is ahead, plus `INCR key:fence`. Otherwise the caller queues in Redis (`key:queue`).
 * - Release is compare-and-delete when nobody waits. With waiters, the same script hands the lock
 *   to the first live one (`SET key <its token>`, a new fence) and announces it with a `PUBLISH`
 *   on `key:wake`: no gap in which a releasing client could barge ahead, no extra round trip for
 *   the next holder. Its lease is valid from its latest "queued" reply (a lower bound of the
 *   hand-off time) for min(ttl, 3 × `recheckMs`), extended to the full ttl halfway through
 *   unless released first, so a waiter that died while queued blocks the lock only that long. A
 *   waiter re-checks every `recheckMs`, so a lost message or an expired holder never strands it.
 * - Extend is compare-and-pexpire. A lease is valid until (time the acquire/extend was SENT) +
 *   ttl − drift allowance (1 % of ttl + 2 ms, `LeaseValidity`); past that without a confirmed
 *   extend its `lost$` errors with `LockLostError`. An acquire whose reply comes past that point
 *   (a server pause) makes no lease: a waiter passes the key on and keeps waiting, a single try
 *   rejects `LockTimeoutError`.
 * - Key layout: the token is the string value of `prefix + key`, as redlock and redsync store it,
 *   so with `prefix: ''` such a client on the same key excludes and is excluded (it may take a
 *   free lock ahead of our queue; our waiters notice its release on their re-check).
 * - Reserved names: a key ending in `:fence`, `:queue`, `:waiters` or `:wake` is an internal
 *   key of another lock, so `acquire` rejects it with a `TypeError`. `ttlMs` must be >= 10.
 * - Redis Cluster: put a hash tag in the key (`'{orders}'`) so the key and its `:fence`,
 *   `:queue`, `:waiters` companions share a slot.
 * - Quorum mode: pass an array of clients of independent servers (`new RedisLocks([r1, r2,
 *   r3])`) for Redlock's majority locks with FIFO waiting and fences that rise across majorities
 *   (see `QuorumRedisLocks`).
 *
 * Limits: Redis replication is asynchronous, so a failover can lose a held lock (and the fence
 * counter, which is then re-seeded from server time, so fences still increase while the clock
 * does); the fence lets your store reject the older holder. Every call fails with
 * `BackendUnavailableError` after `commandTimeoutMs` (a waiting acquire whose first attempt got
 * no answer, too; once queued, it retries failed re-checks until `waitMs`, then rejects with the
 * last error); a timed-out acquire that later lands on the server is undone by a queue leave sent
 * behind it. The same object recovers when the server comes back.
 *
 * ```
 * A: acquire(fence 7)------release(hands off)
 * B: acquire ....queued...............held(fence 8)
 * ```
 *
 * @example
 * const locks = new RedisLocks(new Redis(url), { prefix: 'locks:' });
 * lock$(locks, '{orders}', { ttlMs: 10_000 })
 *   .pipe(switchMap((lease) => processOrders({ fence: lease.fence })))
 *   .subscribe();
 */
export class RedisLocks implements LockBackend {
  /**
   * Acquires, timeouts, extends, releases and losses of this instance's leases (not other
   * clients'), `at` in `scheduler` time: hot, no replay. `waitedMs` runs from the acquire call to
   * the lease reaching the caller, round trips included; `extended` comes for every confirmed
   * extend, also the one a handed-off lease makes to reach its full TTL. While it is observed,
   * a lease's expiry timer runs from its grant, so `lost` comes at expiry without a `lost$`
   * subscriber.
   */
  readonly events$: Observable<LockEvent>;
  private readonly impl: SingleRedisLocks | QuorumRedisLocks;

  constructor(redis: Redis | Cluster | readonly Redis[], config?: RedisLocksConfig) {
    const clients = validateClients(redis);
    const options = validateOptions('config', config, [
      'prefix',
      'commandTimeoutMs',
      'recheckMs',
      'scheduler',
    ]);
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string') {
      throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
    }
    const scheduler = resolveScheduler(options.scheduler ?? asyncScheduler);
    const events = new LockEvents(scheduler);
    this.events$ = events.events$;
    const settings: RedisLocksSettings = {
      prefix,
      commandTimeoutMs: validateMs('commandTimeoutMs', options.commandTimeoutMs ?? 2000, 1),
      recheckMs: validateMs('recheckMs', options.recheckMs ?? 1000, 1),
      scheduler,
      events,
    };
    this.impl =
      clients.length > 1
        ? new QuorumRedisLocks(clients as readonly Redis[], settings)
        : new SingleRedisLocks(clients[0], settings);
  }

  acquire(key: string, options?: AcquireOptions): Promise<LockLease> {
    const { ttlMs, waitMs, signal } = resolveAcquireOptions(key, options, {
      minTtlMs: MIN_TTL_MS,
    });
    const reserved = RESERVED_SUFFIXES.find((suffix) => key.endsWith(suffix));
    if (reserved !== undefined) {
      // `orders:fence` IS the fence counter of lock `orders`: taking it would corrupt that lock.
      throw new TypeError(
        `key must not end in the reserved suffix "${reserved}" (an internal key of RedisLocks), got ${JSON.stringify(key)}`,
      );
    }
    return this.impl.acquire(key, ttlMs, waitMs, signal);
  }

  /**
   * Closes the pub/sub connections this instance opened (not the clients you passed in) and,
   * once no call is in flight, its deadline timers. A process need not call it to exit: once
   * every lease is released (lock$ unsubscribed) and your clients quit, nothing of this instance
   * keeps it alive (the pub/sub connection closes with your client, deadline timers stop when no
   * call is in flight).
   */
  close(): void {
    this.impl.close();
  }
}
