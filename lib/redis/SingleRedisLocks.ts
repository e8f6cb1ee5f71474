import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { SchedulerLike, Subscription } from 'rxjs';
import {
  AbortedError,
  BackendUnavailableError,
  isBackendUnavailableError,
  LockTimeoutError,
} from '../errors.js';
import { scheduleOnce } from '../internal/scheduler.js';
import { validateMs } from '../internal/validate.js';
import type { LockLease } from '../lock/LockBackend.js';
import { luaScript, ScriptRunner } from './ScriptRunner.js';
import { MIN_TTL_MS, TimedLease } from './TimedLease.js';
import { WaitLoop } from './WaitLoop.js';
import { WakeHub } from './WakeHub.js';

/** Settings of both lock modes, validated by {@link RedisLocks}. Internal. */
export interface RedisLocksSettings {
  prefix: string;
  commandTimeoutMs: number;
  recheckMs: number;
  scheduler: SchedulerLike;
}

/** Restarts the fence counter from server time in µs (it was lost), past every earlier fence. */
const SEED_FENCE = `local function seed_fence()
    local t = redis.call('TIME')
    redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
    return redis.call('INCR', KEYS[2])
  end`;

/**
 * Redis keys of lock `K` (all share K's hash tag, so they land in one Cluster slot):
 * K = holder token (string, PX ttl, the redlock/redsync layout); K:fence = fence counter;
 * K:queue = waiters (zset token → ticket); K:waiters = hash token → "<entry expiry ms>:<grant
 * ttl ms>" while queued, "g<fence>" once the lock was handed to it, plus the ticket counter in
 * field '#seq'. Hand-offs are announced on channel K:wake as "<token> <fence>".
 *
 * Every script starts with its uncontended path (no queue), so it pays for nothing else; the
 * shared prelude below is only reached past it. `now_ms()` is server time in ms; `live_head()`
 * is the first waiter whose entry has not expired (expired entries at the head are dropped, so a
 * dead waiter blocks others only until then) and its grant TTL; `next_fence()` increments the
 * fence counter; `pass_on()` hands the lock to the first live waiter or frees it.
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
    local exp, grant = string.match(redis.call('HGET', KEYS[4], first[1]) or '', '^(%d+):(%d+)$')
    if exp and tonumber(exp) > now then return first[1], grant end
    redis.call('ZREM', KEYS[3], first[1])
    redis.call('HDEL', KEYS[4], first[1])
    first = redis.call('ZRANGE', KEYS[3], 0, 0)
  end
  return nil
end
${SEED_FENCE}
local function next_fence()
  local fence = redis.call('INCR', KEYS[2])
  if fence == 1 then fence = seed_fence() end
  return fence
end
local function pass_on()
  local head, grant = live_head()
  if head == nil then
    redis.call('DEL', KEYS[1])
    return
  end
  redis.call('SET', KEYS[1], head, 'PX', grant)
  local fence = string.format('%.0f', next_fence())
  redis.call('ZREM', KEYS[3], head)
  redis.call('HSET', KEYS[4], head, 'g' .. fence)
  if redis.call('PTTL', KEYS[4]) < tonumber(grant) then redis.call('PEXPIRE', KEYS[4], grant) end
  redis.call('PUBLISH', KEYS[1] .. ':wake', head .. ' ' .. fence)
end
`;

/**
 * ARGV: token, ttl ms, queue entry ttl ms (0: try once, do not queue). Returns the fence (> 0) if
 * this call took the lock or claimed a hand-off to this token, 0 if not (with an entry ttl the
 * token is then queued or its entry refreshed), -1 if the key already holds this token and its
 * hand-off was claimed before. The lock is taken only when it is free and no live waiter is
 * ahead, as `SET NX PX` (so a plain SET NX client still excludes and is excluded). The fence
 * counter is seeded from server time in µs when it starts over, so fences keep increasing even
 * after Redis lost its data.
 */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1], KEYS[3]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local fence = redis.call('INCR', KEYS[2])
  if fence > 1 then return fence end
  ${SEED_FENCE}
  return seed_fence()
end
${PRELUDE}
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  local granted = redis.call('HGET', KEYS[4], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if granted and string.sub(granted, 1, 1) == 'g' then return tonumber(string.sub(granted, 2)) end
  return -1
end
if holder == false then
  local head = live_head()
  if head == nil or head == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    if head ~= nil then
      redis.call('ZREM', KEYS[3], ARGV[1])
      redis.call('HDEL', KEYS[4], ARGV[1])
    end
    return next_fence()
  end
end
if ARGV[3] ~= '0' then
  local entry = redis.call('HGET', KEYS[4], ARGV[1])
  if entry == false then
    redis.call('ZADD', KEYS[3], redis.call('HINCRBY', KEYS[4], '#seq', 1), ARGV[1])
  end
  local grant = math.min(tonumber(ARGV[2]), tonumber(ARGV[3]))
  redis.call('HSET', KEYS[4], ARGV[1], (now_ms() + tonumber(ARGV[3])) .. ':' .. grant)
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
return 0
`;

/**
 * ARGV: token. Compare-and-delete, or, with live waiters, a direct hand-off to the first one (no
 * gap in which another client could take the lock). Returns 1, or 0 if not ours.
 */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
${PRELUDE}
redis.call('HDEL', KEYS[4], ARGV[1])
pass_on()
return 1
`;

/** ARGV: token, ttl ms. Compare-and-pexpire (and drops a claimed hand-off marker). Returns 1 or 0. */
const EXTEND = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
`;

/**
 * ARGV: token. Leaves the queue; if the lock is free, or was just handed to this token, passes it
 * on to the next live waiter.
 */
const LEAVE = `${PRELUDE}
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then pass_on() end
return 1
`;

const SCRIPTS = {
  acquire: luaScript(ACQUIRE),
  release: luaScript(RELEASE),
  extend: luaScript(EXTEND),
  leave: luaScript(LEAVE),
};

interface LockKeys {
  keys: [string, string, string, string];
  channel: string;
}

/** A waiter's listener registered before its first attempt (see `listenEarly`). */
interface EarlyListener {
  /** `WakeHub.activeGeneration` when it was registered. */
  generation: number;
  /** The fence of a hand-off that came before `onHandOff` was set. */
  handedOff?: number;
  onHandOff?: (fence: number) => void;
  /** The subscription was confirmed again (after a dropped connection). */
  onActive?: () => void;
  stop: () => void;
}

/** A lease on one Redis: extend is compare-and-pexpire, release compare-and-delete (or hand-off). */
class RedisLease extends TimedLease {
  constructor(
    private readonly runner: ScriptRunner,
    key: string,
    private readonly lockKeys: LockKeys,
    private readonly token: string,
    fence: bigint,
    ttlMs: number,
    scheduler: SchedulerLike,
  ) {
    super(key, fence, ttlMs, scheduler);
  }

  /**
   * A handed-off lease starts with a short key TTL: extend it to the full ttl after `delayMs`,
   * unless it is released or extended before (short holds never pay for it).
   */
  claimLater(delayMs: number): void {
    this.claim = scheduleOnce(this.scheduler, delayMs, () => {
      this.claim = undefined;
      if (this.end.held) this.extend().catch(() => undefined); // failures surface in lost$
    });
  }

  private claim: Subscription | undefined;

  protected override lose(reason: string): void {
    this.claim?.unsubscribe(); // a lost lease has nothing to claim
    super.lose(reason);
  }

  async extend(ttlMs: number = this.ttlMs): Promise<void> {
    validateMs('ttlMs', ttlMs, MIN_TTL_MS);
    this.claim?.unsubscribe();
    this.assertHeld();
    const sentAt = this.scheduler.now();
    const ok = await this.runner.run(SCRIPTS.extend, this.lockKeys.keys, [
      this.token,
      String(ttlMs),
    ]);
    this.assertHeld();
    if (ok !== 1) {
      this.lose('the key no longer holds this lease (expired or deleted)');
      throw this.endedError();
    }
    if (!this.confirm(sentAt, ttlMs)) {
      throw new BackendUnavailableError('redis', 'the extend was confirmed past its own validity');
    }
    this.ttlMs = ttlMs;
  }

  protected async doRelease(): Promise<void> {
    this.claim?.unsubscribe();
    this.expireIfDue();
    const wasLost = this.end.lost;
    // Even a lost lease sends the compare-and-delete: it frees the key only if it is still ours.
    const releasing = this.runner.run(SCRIPTS.release, this.lockKeys.keys, [this.token]);
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
}

/**
 * RedisLocks on one Redis or Redis Cluster (see {@link RedisLocks} for what it does and promises):
 * the scripts, the FIFO queue with direct hand-off, and the waiting. Internal: RedisLocks
 * validates the options and delegates here.
 */
export class SingleRedisLocks {
  private readonly prefix: string;
  private readonly recheckMs: number;
  private readonly scheduler: SchedulerLike;
  private readonly hub: WakeHub;
  private readonly runner: ScriptRunner;
  /** A queue entry's lifetime in ms, as the acquire script takes it. */
  private readonly entryTtl: string;
  /** Tokens are this instance's random prefix plus a counter: unique, and cheaper than a UUID. */
  private readonly tokenPrefix = `${randomBytes(12).toString('base64url')}.`;
  private tokens = 0;

  constructor(redis: Redis | Cluster, settings: RedisLocksSettings) {
    this.prefix = settings.prefix;
    this.recheckMs = settings.recheckMs;
    this.entryTtl = String(settings.recheckMs * 3);
    this.scheduler = settings.scheduler;
    this.hub = new WakeHub(redis, settings.recheckMs, settings.scheduler);
    this.runner = new ScriptRunner(
      redis,
      Object.values(SCRIPTS),
      settings.commandTimeoutMs,
      settings.scheduler,
    );
  }

  /** Closes the pub/sub connection it opened and, once no call is in flight, its deadline timer. */
  close(): void {
    this.hub.close();
    this.runner.close();
  }

  private lockKeys(key: string): LockKeys {
    const k = this.prefix + key;
    // The scripts name the channel the same way, from KEYS[1].
    return { keys: [k, `${k}:fence`, `${k}:queue`, `${k}:waiters`], channel: `${k}:wake` };
  }

  /**
   * One acquire attempt: the fence if it took the lock or claimed a hand-off, 0 if someone else
   * holds it or is ahead in the queue, -1 if a hand-off to `token` was claimed before.
   */
  private async attempt(
    lockKeys: LockKeys,
    token: string,
    ttlMs: number,
    mode: 'try' | 'wait',
  ): Promise<number> {
    try {
      const args = [token, String(ttlMs), mode === 'wait' ? this.entryTtl : '0'];
      return Number(await this.runner.run(SCRIPTS.acquire, lockKeys.keys, args));
    } catch (e) {
      // If the call still lands later, undo it: this leave is queued behind it.
      if (isBackendUnavailableError(e)) this.leave(lockKeys, token);
      throw e;
    }
  }

  /** Leaves the queue, passing the lock on if it was just handed to `token`. */
  private leave(lockKeys: LockKeys, token: string): void {
    this.runner.run(SCRIPTS.leave, lockKeys.keys, [token]).catch(() => undefined);
  }

  /**
   * The lease for a confirmed acquire or hand-off, proven from `sentAt` for `provenTtlMs`; or
   * undefined when that proof had run out before the reply came (a server pause): the key then
   * holds our token at best until it expires, which no holder may count on.
   */
  private lease(
    key: string,
    lockKeys: LockKeys,
    token: string,
    fence: number,
    ttlMs: number,
    proof: { sentAt: number; provenTtlMs: number },
  ): RedisLease | undefined {
    const lease = new RedisLease(
      this.runner,
      key,
      lockKeys,
      token,
      BigInt(fence),
      ttlMs,
      this.scheduler,
    );
    return lease.confirm(proof.sentAt, proof.provenTtlMs) ? lease : undefined;
  }

  async acquire(
    key: string,
    ttlMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<LockLease> {
    if (signal?.aborted) throw new AbortedError(`acquire of lock "${key}" aborted`);
    const lockKeys = this.lockKeys(key);
    const token = this.tokenPrefix + (this.tokens++).toString(36);
    const mode = waitMs === 0 ? 'try' : 'wait';
    const early = mode === 'wait' ? this.listenEarly(lockKeys.channel, token) : undefined;
    const sentAt = this.scheduler.now();
    let fence: number;
    try {
      fence = await this.attempt(lockKeys, token, ttlMs, mode);
    } catch (e) {
      early?.stop();
      throw e;
    }
    const lease =
      fence > 0
        ? this.lease(key, lockKeys, token, fence, ttlMs, { sentAt, provenTtlMs: ttlMs })
        : undefined;
    if (lease !== undefined) {
      early?.stop();
      return lease;
    }
    // Taken but confirmed too late: pass the key on (it is not ours to count on) and wait on.
    if (fence > 0) this.leave(lockKeys, token);
    if (mode === 'try') throw new LockTimeoutError(key, 0);
    return this.wait(key, lockKeys, token, ttlMs, waitMs, signal, early, sentAt, fence > 0);
  }

  /**
   * On a key this instance already listens on (contention), listens before the first attempt is
   * sent: a hand-off that arrives before that attempt's reply is kept, and the waiter needs no
   * extra attempt once subscribed. Undefined when the channel has no confirmed subscription.
   */
  private listenEarly(channel: string, token: string): EarlyListener | undefined {
    const generation = this.hub.activeGeneration(channel);
    if (generation === undefined) return undefined;
    const early: EarlyListener = { generation, stop: () => undefined };
    early.stop = this.hub.listen(
      channel,
      (message) => {
        const fence = handedTo(message, token);
        if (fence === undefined) return;
        if (early.onHandOff) early.onHandOff(fence);
        else early.handedOff = fence;
      },
      () => early.onActive?.(),
      generation,
    );
    return early;
  }

  /**
   * Waits in the queue until a release hands the lock to `token` (announced on the wake channel;
   * a re-attempt every `recheckMs` claims it if the message was lost, and takes the lock if its
   * holder expired).
   */
  private wait(
    key: string,
    lockKeys: LockKeys,
    token: string,
    ttlMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
    early: EarlyListener | undefined,
    firstSentAt: number,
    retryNow: boolean,
  ): Promise<LockLease> {
    return new Promise<LockLease>((resolve, reject) => {
      let stopListening = () => {};
      /** Send time of the latest attempt answered "queued": any hand-off to us came after it. */
      let queuedSince = firstSentAt;
      const loop: WaitLoop<RedisLease> = new WaitLoop(
        {
          key,
          waitMs,
          recheckMs: this.recheckMs,
          signal,
          scheduler: this.scheduler,
          round: async () => {
            const sentAt = this.scheduler.now();
            const fence = await this.attempt(lockKeys, token, ttlMs, 'wait');
            if (loop.finished) return; // the hand-off message came first, or the wait ended
            const proof = { sentAt, provenTtlMs: ttlMs };
            const lease =
              fence > 0 ? this.lease(key, lockKeys, token, fence, ttlMs, proof) : undefined;
            if (lease !== undefined) loop.succeed(lease);
            else if (fence === 0) queuedSince = Math.max(queuedSince, sentAt);
            else {
              // Ours, but confirmed past its validity (a server pause) or its fence is gone:
              // pass it on and queue again.
              this.leave(lockKeys, token);
              loop.run();
            }
          },
          onEnd: (error) => {
            stopListening();
            // Sent after any attempt in flight, so a hand-off that attempt claims is passed on.
            if (error) this.leave(lockKeys, token);
          },
        },
        resolve,
        reject,
      );
      loop.start();
      if (retryNow) loop.run();
      /**
       * The release set the key to our token with PX min(ttl, entry lifetime) after our latest
       * "queued" reply, so the lease is valid at least until `queuedSince` + that. Take it at once
       * if that leaves room, extending to the full TTL halfway through it; else claim it with an
       * attempt, whose send time then bounds the validity.
       */
      const onHandOff = (fence: number) => {
        if (loop.finished) return;
        const grantMs = Math.min(ttlMs, this.recheckMs * 3);
        const proof = { sentAt: queuedSince, provenTtlMs: grantMs };
        const lease = this.lease(key, lockKeys, token, fence, ttlMs, proof);
        if (lease === undefined || lease.remainingMs < grantMs / 2) {
          loop.run();
          return;
        }
        loop.succeed(lease);
        if (grantMs < ttlMs) lease.claimLater(lease.remainingMs / 2);
      };

      if (early) {
        stopListening = early.stop;
        early.onHandOff = onHandOff;
        early.onActive = loop.run;
        if (early.handedOff !== undefined) onHandOff(early.handedOff);
        // A dropped connection since the listener was registered: messages may be lost.
        else if (this.hub.activeGeneration(lockKeys.channel) !== early.generation) loop.run();
      } else {
        stopListening = this.hub.listen(
          lockKeys.channel,
          (message) => {
            const fence = handedTo(message, token);
            if (fence !== undefined) onHandOff(fence);
          },
          loop.run, // a hand-off may have slipped in before the subscription was active
        );
      }
    });
  }
}

/** The fence of a hand-off message ("<token> <fence>") naming `token`, else undefined. */
function handedTo(message: string, token: string): number | undefined {
  if (message.length <= token.length + 1 || !message.startsWith(token)) return undefined;
  if (message.charCodeAt(token.length) !== 32) return undefined;
  return Number(message.slice(token.length + 1));
}
