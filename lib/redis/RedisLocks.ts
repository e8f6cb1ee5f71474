import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { asyncScheduler, Observable, type SchedulerLike, type Subscription } from 'rxjs';
import {
  AbortedError,
  BackendUnavailableError,
  isBackendUnavailableError,
  LockLostError,
  LockTimeoutError,
} from '../errors.js';
import { resolveScheduler, scheduleOnce } from '../internal/scheduler.js';
import { validateInteger, validateObject } from '../internal/validate.js';
import { LeaseEnd } from '../lock/LeaseEnd.js';
import {
  resolveAcquireOptions,
  type AcquireOptions,
  type LockBackend,
  type LockLease,
} from '../lock/LockBackend.js';
import { toRedisError } from './redisErrors.js';
import { WakeHub } from './WakeHub.js';

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
 * Redis keys of lock `K` (all share K's hash tag, so they land in one Cluster slot):
 * K = holder token (string, PX ttl, the redlock/redsync layout); K:fence = fence counter;
 * K:queue = waiters (zset token → ticket); K:waiters = hash token → entry expiry (server ms),
 * plus the ticket counter in field '#seq'. The wake-up channel is K:wake.
 *
 * Shared prelude: `now_ms()` is server time in ms; `live_head()` is the first waiter whose entry
 * has not expired (expired entries at the head are dropped, so a dead waiter blocks others only
 * until then). Both cost nothing beyond one ZRANGE while nobody waits. `next_fence()` increments
 * the fence counter (seeded from server time in µs when it starts over).
 */
const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_head()
  local first = redis.call('ZRANGE', KEYS[3], 0, 0)
  if #first == 0 then return nil end
  local now = now_ms()
  while #first > 0 do
    local exp = tonumber(redis.call('HGET', KEYS[4], first[1]) or '0')
    if exp > now then return first[1] end
    redis.call('ZREM', KEYS[3], first[1])
    redis.call('HDEL', KEYS[4], first[1])
    first = redis.call('ZRANGE', KEYS[3], 0, 0)
  end
  return nil
end
local function next_fence()
  local fence = redis.call('INCR', KEYS[2])
  if fence == 1 then
    local t = redis.call('TIME')
    redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
    fence = redis.call('INCR', KEYS[2])
  end
  return fence
end
`;

/**
 * ARGV: token, ttl ms, 'try' | 'wait', queue entry ttl ms. Takes the lock if it is free and no
 * live waiter is ahead (SET NX PX semantics, so a plain SET NX client still excludes and is
 * excluded), incrementing the fence counter (seeded from server time in µs the first time, so
 * fences keep increasing even after Redis lost its data). Otherwise, in 'wait' mode, joins or
 * refreshes the FIFO queue. Returns {1, fence} or {0, 0}. The first line is the uncontended
 * path: neither the lock nor a queue exists, so no queue bookkeeping is needed.
 */
const ACQUIRE = `${PRELUDE}
if redis.call('EXISTS', KEYS[1], KEYS[3]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, next_fence()}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  local head = live_head()
  if head == nil or head == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    local fence = next_fence()
    if head ~= nil then
      redis.call('ZREM', KEYS[3], ARGV[1])
      redis.call('HDEL', KEYS[4], ARGV[1])
    end
    return {1, fence}
  end
end
if ARGV[3] == 'wait' then
  if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 0 then
    redis.call('ZADD', KEYS[3], redis.call('HINCRBY', KEYS[4], '#seq', 1), ARGV[1])
  end
  redis.call('HSET', KEYS[4], ARGV[1], now_ms() + tonumber(ARGV[4]))
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[4], ARGV[4])
end
return {0, 0}
`;

/** ARGV: token, channel. Compare-and-delete, then wake the first live waiter. Returns 1 or 0 (not ours). */
const RELEASE = `${PRELUDE}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local head = live_head()
if head ~= nil then redis.call('PUBLISH', ARGV[2], head) end
return 1
`;

/** ARGV: token, ttl ms. Compare-and-pexpire. Returns 1 or 0 (not ours). */
const EXTEND = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** ARGV: token, channel. Leaves the queue; if the lock is free, wakes the new first waiter. */
const LEAVE = `${PRELUDE}
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
local head = live_head()
if head ~= nil and redis.call('EXISTS', KEYS[1]) == 0 then redis.call('PUBLISH', ARGV[2], head) end
return 1
`;

interface Script {
  source: string;
  sha: string;
}
const script = (source: string): Script => ({
  source,
  sha: createHash('sha1').update(source).digest('hex'),
});
const SCRIPTS = {
  acquire: script(ACQUIRE),
  release: script(RELEASE),
  extend: script(EXTEND),
  leave: script(LEAVE),
};

/** Client clock drift allowance, as Redlock: 1% of the TTL plus 2 ms. */
const driftMs = (ttlMs: number) => Math.floor(ttlMs * 0.01) + 2;

interface LockKeys {
  keys: [string, string, string, string];
  channel: string;
}

/** A waiter's listener registered before its first attempt (see `listenEarly`). */
interface EarlyListener {
  /** `WakeHub.activeGeneration` when it was registered. */
  generation: number;
  /** A wake-up came before `onWake` was set. */
  woken: boolean;
  onWake?: () => void;
  stop: () => void;
}

/** A Redis call in flight, failed by the deadline sweep if no reply comes in time. */
interface InflightCall {
  sentAt: number;
  fail(error: Error): void;
}

/**
 * The expiry timer runs only once someone subscribes to `lost$` (lock$ does); until then extend
 * and release check the clock themselves, so a lease nobody watches costs no timer.
 */
class RedisLease implements LockLease {
  private readonly end = new LeaseEnd();
  readonly lost$ = new Observable<never>((subscriber) => {
    this.expireIfDue();
    if (this.end.held && this.expiry === undefined) this.scheduleExpiry();
    return this.end.lost$.subscribe(subscriber);
  });
  private validUntil: number;
  private expiry: Subscription | undefined;
  private releasing: Promise<void> | undefined;

  constructor(
    private readonly locks: RedisLocks,
    readonly key: string,
    private readonly lockKeys: LockKeys,
    readonly token: string,
    readonly fence: bigint,
    public ttlMs: number,
    sentAt: number,
    private readonly scheduler: SchedulerLike,
  ) {
    this.validUntil = sentAt + ttlMs - driftMs(ttlMs);
  }

  async extend(ttlMs: number = this.ttlMs): Promise<void> {
    validateInteger('ttlMs', ttlMs, 1);
    this.expireIfDue();
    if (!this.end.held) throw this.endedError();
    const sentAt = this.scheduler.now();
    const ok = await this.locks.run(SCRIPTS.extend, this.lockKeys, [this.token, String(ttlMs)]);
    this.expireIfDue();
    if (!this.end.held) throw this.endedError();
    if (ok !== 1) {
      this.lose('the key no longer holds this lease (expired or deleted)');
      throw this.endedError();
    }
    this.ttlMs = ttlMs;
    this.validUntil = Math.max(this.validUntil, sentAt + ttlMs - driftMs(ttlMs));
    if (this.expiry) this.scheduleExpiry();
  }

  release(): Promise<void> {
    this.releasing ??= this.doRelease();
    return this.releasing;
  }

  private async doRelease(): Promise<void> {
    this.expireIfDue();
    const wasLost = this.end.lost;
    // Even a lost lease sends the compare-and-delete: it frees the key only if it is still ours.
    const releasing = this.locks.run(SCRIPTS.release, this.lockKeys, [
      this.token,
      this.lockKeys.channel,
    ]);
    if (wasLost) {
      releasing.catch(() => undefined);
      throw this.endedError();
    }
    let ok: unknown;
    try {
      ok = await releasing;
    } catch (e) {
      this.finish(); // the key expires after its TTL
      throw e;
    }
    if (ok !== 1) {
      this.lose('the key no longer holds this lease (expired or deleted)');
      throw this.endedError();
    }
    this.finish();
  }

  private finish(): void {
    this.expiry?.unsubscribe();
    this.end.release();
  }

  private lose(reason: string): void {
    this.expiry?.unsubscribe();
    this.end.lose(new LockLostError(this.key, `lock "${this.key}" was lost: ${reason}`));
  }

  private endedError(): Error {
    return this.end.lostError ?? new LockLostError(this.key, `lock "${this.key}" was released`);
  }

  private expireIfDue(): void {
    if (this.end.held && this.scheduler.now() >= this.validUntil) {
      this.lose('TTL passed without a confirmed extend');
    }
  }

  private scheduleExpiry(): void {
    this.expiry?.unsubscribe();
    this.expiry = scheduleOnce(this.scheduler, this.validUntil - this.scheduler.now(), () => {
      if (this.scheduler.now() >= this.validUntil) {
        this.lose('TTL passed without a confirmed extend');
      } else this.scheduleExpiry();
    });
  }
}

/**
 * Distributed locks on one Redis (or Redis Cluster): waiting is FIFO and push-based, leases carry
 * fencing tokens and report their loss.
 *
 * - Acquire is one Lua call: `SET key token NX PX ttl` when the key is free and no live waiter
 *   is ahead, plus `INCR key:fence`. Waiters queue in Redis (`key:queue`), so a releasing client
 *   cannot barge ahead of them, and are woken by a `PUBLISH` on `key:wake` naming the next one,
 *   with a timed re-check every `recheckMs` so a lost message never strands a waiter.
 * - Release is compare-and-delete; extend is compare-and-pexpire. A lease is valid until
 *   (time the acquire/extend was SENT) + ttl − drift; past that without a confirmed extend its
 *   `lost$` errors with `LockLostError`.
 * - Key layout: the token is the string value of `prefix + key`, as redlock and redsync store it,
 *   so with `prefix: ''` such a client on the same key excludes and is excluded (it may take a
 *   free lock ahead of our queue; our waiters notice its release on their re-check).
 * - Redis Cluster: put a hash tag in the key (`'{orders}'`) so the key and its `:fence`,
 *   `:queue`, `:waiters` companions share a slot.
 *
 * Limits: Redis replication is asynchronous, so a failover can lose a held lock (and the fence
 * counter, which is then re-seeded from server time, so fences still increase while the clock
 * does); the fence lets your store reject the older holder. Every call fails with
 * `BackendUnavailableError` after `commandTimeoutMs`; a timed-out acquire that later lands on the
 * server is undone by a compare-and-delete queued behind it.
 *
 * ```
 * A: acquire(fence 7)------release
 * B: acquire ....queued......(woken) held(fence 8)
 * ```
 *
 * @example
 * const locks = new RedisLocks(new Redis(url), { prefix: 'locks:' });
 * lock$(locks, '{orders}', { ttlMs: 10_000 })
 *   .pipe(switchMap((lease) => processOrders({ fence: lease.fence })))
 *   .subscribe();
 */
export class RedisLocks implements LockBackend {
  private readonly prefix: string;
  private readonly commandTimeoutMs: number;
  private readonly recheckMs: number;
  private readonly scheduler: SchedulerLike;
  private readonly hub: WakeHub;

  constructor(
    private readonly redis: Redis | Cluster,
    config?: RedisLocksConfig,
  ) {
    if (typeof (redis as Partial<Redis> | undefined)?.evalsha !== 'function') {
      throw new TypeError('redis must be an ioredis Redis or Cluster client');
    }
    const options = validateObject('config', config);
    this.prefix = options.prefix ?? '';
    if (typeof this.prefix !== 'string') throw new TypeError('prefix must be a string');
    this.commandTimeoutMs = validateInteger(
      'commandTimeoutMs',
      options.commandTimeoutMs ?? 2000,
      1,
    );
    this.recheckMs = validateInteger('recheckMs', options.recheckMs ?? 1000, 1);
    this.scheduler = resolveScheduler(options.scheduler ?? asyncScheduler);
    this.hub = new WakeHub(redis, this.recheckMs, this.scheduler);
  }

  acquire(key: string, options?: AcquireOptions): Promise<LockLease> {
    const resolved = resolveAcquireOptions(key, options);
    return this.acquireResolved(key, resolved.ttlMs, resolved.waitMs, resolved.signal);
  }

  /**
   * Closes the pub/sub connection this instance opened (not the client you passed in) and, once
   * no call is in flight, its deadline timer.
   */
  close(): void {
    this.hub.close();
    if (this.inflight.size === 0) {
      this.sweeper?.unsubscribe();
      this.sweeper = undefined;
    }
  }

  /**
   * Runs a script with EVALSHA under the command deadline. Scripts are loaded (SCRIPT LOAD on
   * every master) before the first call, because an EVALSHA that falls back to EVAL after
   * NOSCRIPT would be overtaken by the next command on the connection (a queue leave by a later
   * acquire, an undo by the acquire it undoes). After a script flush (restart, failover) the
   * fallback runs and the scripts are loaded again. Once loaded, the command is written before
   * this returns (no await in between), and deadlines cost no timer per call: one sweep, due at
   * the oldest call's deadline, fails every call past `commandTimeoutMs`. @internal
   */
  run(s: Script, lockKeys: LockKeys, args: string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const call: InflightCall = { sentAt: this.scheduler.now(), fail: reject };
      this.inflight.add(call);
      this.sweeper ??= scheduleOnce(this.scheduler, this.commandTimeoutMs, this.sweep);
      const onReply = (reply: unknown) => {
        if (this.inflight.delete(call)) resolve(reply);
      };
      const onError = (e: unknown) => {
        if (this.inflight.delete(call)) reject(toRedisError(e, 'call'));
      };
      if (this.loaded === true) this.send(s, lockKeys, args).then(onReply, onError);
      else {
        this.loaded ??= this.loadScripts();
        this.loaded.then(() => this.send(s, lockKeys, args)).then(onReply, onError);
      }
    });
  }

  /** true once the scripts are loaded; the loading promise meanwhile. */
  private loaded: Promise<void> | true | undefined;
  private readonly inflight = new Set<InflightCall>();
  private sweeper: Subscription | undefined;

  private readonly sweep = () => {
    this.sweeper = undefined;
    const now = this.scheduler.now();
    for (const call of this.inflight) {
      if (call.sentAt > now) call.sentAt = now; // the clock went back: restart its deadline
      const left = call.sentAt + this.commandTimeoutMs - now;
      if (left > 0) {
        this.sweeper = scheduleOnce(this.scheduler, left, this.sweep);
        return;
      }
      this.inflight.delete(call);
      call.fail(
        new BackendUnavailableError(
          'redis',
          `redis gave no reply within ${this.commandTimeoutMs} ms`,
        ),
      );
    }
  };

  private send(s: Script, { keys }: LockKeys, args: string[]): Promise<unknown> {
    return this.redis.evalsha(s.sha, 4, ...keys, ...args).catch((e: unknown) => {
      if (!(e instanceof Error && e.message.startsWith('NOSCRIPT'))) throw e;
      this.loaded = undefined;
      return this.redis.eval(s.source, 4, ...keys, ...args);
    });
  }

  private loadScripts(): Promise<void> {
    const sources = Object.values(SCRIPTS).map((x) => x.source);
    const targets: (Redis | Cluster)[] =
      'isCluster' in this.redis && this.redis.isCluster
        ? (this.redis as Cluster).nodes('master')
        : [this.redis];
    const loading: Promise<void> = Promise.all(
      targets.flatMap((node) => sources.map((src) => node.script('LOAD', src))),
    ).then(() => {
      if (this.loaded === loading) this.loaded = true;
    });
    loading.catch(() => {
      if (this.loaded === loading) this.loaded = undefined;
    });
    return loading;
  }

  private lockKeys(key: string): LockKeys {
    const k = this.prefix + key;
    return { keys: [k, `${k}:fence`, `${k}:queue`, `${k}:waiters`], channel: `${k}:wake` };
  }

  /** One acquire attempt: a lease, or null if someone else holds it or is ahead in the queue. */
  private async attempt(
    key: string,
    lockKeys: LockKeys,
    token: string,
    ttlMs: number,
    mode: 'try' | 'wait',
  ): Promise<RedisLease | null> {
    const sentAt = this.scheduler.now();
    let reply: unknown;
    try {
      reply = await this.run(SCRIPTS.acquire, lockKeys, [
        token,
        String(ttlMs),
        mode,
        String(this.recheckMs * 3),
      ]);
    } catch (e) {
      // If the call still lands later, undo it: this compare-and-delete is queued behind it.
      if (isBackendUnavailableError(e)) {
        this.run(SCRIPTS.release, lockKeys, [token, lockKeys.channel]).catch(() => undefined);
      }
      throw e;
    }
    const [acquired, fence] = reply as [number, number | string];
    if (acquired !== 1) return null;
    return new RedisLease(this, key, lockKeys, token, BigInt(fence), ttlMs, sentAt, this.scheduler);
  }

  private async acquireResolved(
    key: string,
    ttlMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<LockLease> {
    if (signal?.aborted) throw new AbortedError(`acquire of lock "${key}" aborted`);
    const lockKeys = this.lockKeys(key);
    const token = randomUUID();
    if (waitMs === 0) {
      const lease = await this.attempt(key, lockKeys, token, ttlMs, 'try');
      if (lease) return lease;
      throw new LockTimeoutError(key, 0);
    }
    const early = this.listenEarly(lockKeys.channel, token);
    let first: RedisLease | null;
    try {
      first = await this.attempt(key, lockKeys, token, ttlMs, 'wait');
    } catch (e) {
      early?.stop();
      throw e;
    }
    if (first) {
      early?.stop();
      return first;
    }
    return this.wait(key, lockKeys, token, ttlMs, waitMs, signal, early);
  }

  /**
   * On a key this instance already listens on (contention), listens before the first attempt is
   * sent: a wake-up that arrives before that attempt's reply is kept, and the waiter needs no
   * extra attempt once subscribed. Undefined when the channel has no confirmed subscription.
   */
  private listenEarly(channel: string, token: string): EarlyListener | undefined {
    const generation = this.hub.activeGeneration(channel);
    if (generation === undefined) return undefined;
    const early: EarlyListener = { generation, woken: false, stop: () => undefined };
    const wake = () => {
      if (early.onWake) early.onWake();
      else early.woken = true;
    };
    early.stop = this.hub.listen(
      channel,
      (message) => message === token && wake(),
      wake,
      generation,
    );
    return early;
  }

  /** Waits in the queue: re-attempts on a wake-up naming this token and every `recheckMs`. */
  private wait(
    key: string,
    lockKeys: LockKeys,
    token: string,
    ttlMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
    early: EarlyListener | undefined,
  ): Promise<LockLease> {
    return new Promise<LockLease>((resolve, reject) => {
      let stopListening = () => {};
      let finished = false;
      let busy = false;
      let again = false;
      let lastError: Error | undefined;
      let recheck: Subscription | undefined;
      let deadline: Subscription | undefined;

      const finish = (error: Error | undefined, lease?: RedisLease) => {
        if (finished) return;
        finished = true;
        stopListening();
        recheck?.unsubscribe();
        deadline?.unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        if (lease) {
          resolve(lease);
          return;
        }
        this.run(SCRIPTS.leave, lockKeys, [token, lockKeys.channel]).catch(() => undefined);
        reject(error!);
      };
      const attempt = () => {
        if (finished) return;
        if (busy) {
          again = true;
          return;
        }
        busy = true;
        this.attempt(key, lockKeys, token, ttlMs, 'wait').then(
          (lease) => {
            busy = false;
            lastError = undefined;
            if (lease && finished) void lease.release().catch(() => undefined);
            else if (lease) finish(undefined, lease);
            else if (again) {
              again = false;
              attempt();
            }
          },
          (e: Error) => {
            busy = false;
            lastError = e;
            if (!isBackendUnavailableError(e)) finish(e);
          },
        );
      };
      const scheduleRecheck = () => {
        recheck = scheduleOnce(this.scheduler, this.recheckMs, () => {
          attempt();
          scheduleRecheck();
        });
      };
      const onAbort = () => finish(new AbortedError(`acquire of lock "${key}" aborted`));

      if (early) {
        stopListening = early.stop;
        early.onWake = attempt;
        // A wake-up kept while the first attempt was in flight, or a dropped connection since.
        const generation = this.hub.activeGeneration(lockKeys.channel);
        if (early.woken || generation !== early.generation) attempt();
      } else {
        stopListening = this.hub.listen(
          lockKeys.channel,
          (message) => message === token && attempt(),
          attempt, // a release may have slipped in before the subscription was active
        );
      }
      signal?.addEventListener('abort', onAbort);
      if (waitMs !== Number.POSITIVE_INFINITY) {
        deadline = scheduleOnce(this.scheduler, waitMs, () =>
          finish(lastError ?? new LockTimeoutError(key, waitMs)),
        );
      }
      scheduleRecheck();
    });
  }
}
