import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { SchedulerLike } from 'rxjs';
import { AbortedError, isBackendUnavailableError, LockTimeoutError } from '../errors.js';
import type { LockEvents } from '../lock/LeaseEnd.js';
import type { LockLease } from '../lock/LockBackend.js';
import { RedisLease, type RedisClaim } from './internal/RedisLease.js';
import { SCRIPTS, type LockKeys } from './internal/singleScripts.js';
import { ScriptRunner } from './ScriptRunner.js';
import { WaitLoop } from './WaitLoop.js';
import { WakeHub } from './WakeHub.js';

/** Settings of both lock modes, validated by {@link RedisLocks}. Internal. */
export interface RedisLocksSettings {
  prefix: string;
  commandTimeoutMs: number;
  recheckMs: number;
  scheduler: SchedulerLike;
  /** The RedisLocks' events$, timed by `scheduler`. */
  events: LockEvents;
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

/** A waiting acquire, after its first attempt found the lock taken. */
interface Waiting {
  claim: RedisClaim;
  waitMs: number;
  signal: AbortSignal | undefined;
  early: EarlyListener | undefined;
  /** When the acquire began (its first attempt was sent). */
  startedAt: number;
  /** The first attempt took the lock too late to count: attempt again at once. */
  retryNow: boolean;
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
  private readonly events: LockEvents;
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
    this.events = settings.events;
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
    claim: RedisClaim,
    fence: number,
    proof: { sentAt: number; provenTtlMs: number },
  ): RedisLease | undefined {
    const lease = new RedisLease(this.runner, claim, BigInt(fence), this.scheduler);
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
    const claim: RedisClaim = { key, lockKeys, token, ttlMs };
    const mode = waitMs === 0 ? 'try' : 'wait';
    const early = mode === 'wait' ? this.listenEarly(lockKeys.channel, token) : undefined;
    // Also when the acquire began, for waitedMs.
    const sentAt = this.scheduler.now();
    let fence: number;
    try {
      fence = await this.attempt(lockKeys, token, ttlMs, mode);
    } catch (e) {
      early?.stop();
      throw e;
    }
    const lease = fence > 0 ? this.lease(claim, fence, { sentAt, provenTtlMs: ttlMs }) : undefined;
    if (lease !== undefined) {
      early?.stop();
      lease.announce(this.events, sentAt);
      return lease;
    }
    // Taken but confirmed too late: pass the key on (it is not ours to count on) and wait on.
    if (fence > 0) this.leave(lockKeys, token);
    if (mode === 'try') {
      this.events.timeout(key, sentAt);
      throw new LockTimeoutError(key, 0);
    }
    return this.wait({ claim, waitMs, signal, early, startedAt: sentAt, retryNow: fence > 0 });
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
  private wait(waiting: Waiting): Promise<LockLease> {
    const { claim, waitMs, signal, early, startedAt, retryNow } = waiting;
    const { key, lockKeys, token, ttlMs } = claim;
    return new Promise<LockLease>((resolve, reject) => {
      let stopListening = () => {};
      /** Send time of the latest attempt answered "queued": any hand-off to us came after it. */
      let queuedSince = startedAt;
      const loop: WaitLoop<RedisLease> = new WaitLoop<RedisLease>(
        {
          key,
          waitMs,
          recheckMs: this.recheckMs,
          signal,
          scheduler: this.scheduler,
          events: this.events,
          startedAt,
          round: async () => {
            const sentAt = this.scheduler.now();
            const fence = await this.attempt(lockKeys, token, ttlMs, 'wait');
            if (loop.finished) return; // the hand-off message came first, or the wait ended
            const lease =
              fence > 0 ? this.lease(claim, fence, { sentAt, provenTtlMs: ttlMs }) : undefined;
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
        const lease = this.lease(claim, fence, proof);
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
