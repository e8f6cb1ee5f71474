import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SchedulerLike, Subscription } from 'rxjs';
import { AbortedError, LockTimeoutError } from '../errors.js';
import { scheduleOnce } from '../internal/scheduler.js';
import type { LockEvents } from '../lock/LeaseEnd.js';
import type { LockLease } from '../lock/LockBackend.js';
import { QuorumLease } from './internal/QuorumLease.js';
import { ACQUIRE, EXTEND, RATCHET, RELEASE, type QuorumKeys } from './internal/quorumScripts.js';
import { collectVotes, unavailableError, type Ballot, type Tally } from './internal/quorumVote.js';
import { ScriptRunner } from './ScriptRunner.js';
import type { RedisLocksSettings } from './SingleRedisLocks.js';
import { WaitLoop } from './WaitLoop.js';
import { WakeHub } from './WakeHub.js';

/** Upper bound of the first random back-off after a split vote; it doubles per repeat. */
const SPLIT_JITTER_MS = 20;

/** A waiting acquire: its place in every server's queue. */
interface Waiter {
  id: string;
  /** Client time in ms when the wait began: the same order key on every server. */
  ticket: string;
}

/** The outcome of one acquire round. */
type Attempt =
  | { kind: 'acquired'; lease: QuorumLease }
  /**
   * A waiter is ahead of us, or another token holds the key on a majority: wait for a wake-up
   * naming us (a release once we are first) or the re-check.
   */
  | { kind: 'queued' }
  /** No majority anywhere (split vote) or validity gone: retry after a random back-off. */
  | { kind: 'retry' }
  /** Too many servers failed to answer. */
  | { kind: 'failed'; error: Error };

/**
 * Redlock on N independent Redis servers (RedisLocks' quorum mode, `new RedisLocks([r1, r2, r3])`),
 * with fencing tokens, wake-ups instead of polling, and loss reporting. Internal: RedisLocks
 * validates the options and delegates here.
 *
 * Per server it uses single mode's key names: the token is the value of `prefix + key` (`SET NX
 * PX`, so node-redlock / redsync on the same servers and key excludes and is excluded), the fence
 * counter is `prefix + key + ':fence'`, waiters queue in `:queue` / `:waiters`, releases wake the
 * first waiter by a PUBLISH of its id on `prefix + key + ':wake'`.
 *
 * - Acquire sends the acquire script to all N servers at once with one fresh token; it needs a
 *   majority (floor(N/2)+1). The lease is valid until (time the acquire was SENT) + ttl − drift
 *   (1% of ttl + 2 ms), which must still be in the future once the majority (and the fence
 *   ratchet below) is confirmed. A failed round compare-and-deletes its token on every server
 *   that did not refuse it (the undo is queued behind the acquire on each connection, so a late
 *   acquire is undone too).
 * - Fence: the highest counter value among the majority, F. Then a second phase ratchets the
 *   counter to at least F on every majority server whose counter was lower (while the key still
 *   holds our token); the lease counts as acquired only once a majority holds a counter >= F.
 *   Any later holder's majority intersects that one, and on the shared server it took the key
 *   after ours was gone, so after our ratchet: its INCR there exceeds F. Once a key's counters
 *   are in step (after its first acquire) no server is behind and the ratchet costs nothing.
 * - Waiting is FIFO by ticket: a waiter joins every server's queue with the client time its wait
 *   began (ties broken by its id), so all servers agree on who is first, and a server lets only
 *   its first live waiter take the free key. A client that releases and asks again queues behind
 *   the others instead of winning the race (fair up to the clock skew between clients). A waiter
 *   listens on every server's wake channel and retries when a release names it, every
 *   `recheckMs` (lost messages, holders that expired or do not publish, such as redlock, and a
 *   dead first waiter, whose entry expires after 3 × `recheckMs`), and, after a split vote
 *   (strangers holding a minority each), after a random back-off of 0–20 ms that doubles on each
 *   repeat (capped at `recheckMs`).
 * - Extend is compare-and-pexpire on all servers and needs a majority within validity; release
 *   is compare-and-delete plus PUBLISH on all. A majority answering "not ours" means the lease
 *   was lost (`LockLostError`); too few answers mean `BackendUnavailableError` (the lease stays
 *   valid until its current expiry, or for release, the keys expire after their TTL).
 * - Each call fails after `commandTimeoutMs` and counts as a failed vote, and every vote is
 *   decided as soon as the answers in settle it: with one of three servers dead, locks keep
 *   working at the speed of the other two; with a majority dead, calls reject
 *   `BackendUnavailableError` within `commandTimeoutMs`.
 *
 * Caveats (Redlock's): mutual exclusion and strictly increasing fences hold only while clocks
 * (of clients and servers) drift by less than the allowance and a server that loses its data
 * (no fsync, restart) stays down for at least one TTL before it rejoins; a counter it lost is
 * re-seeded from its clock in µs, which keeps fences rising while that clock is sane. A holder
 * paused past its validity learns of the loss only afterwards: pass the fence to your store.
 * Use an odd N (3 or 5) and a distinct server per client: two clients of one server vote twice.
 *
 * ```
 * A: acquire(F 7 on s1,s2,s3)------release (PUBLISH of B's id on each)
 * B: acquire ..queued on each.......(woken) held(F 8)
 * ```
 *
 * @example
 * const locks = new RedisLocks([new Redis(url1), new Redis(url2), new Redis(url3)], {
 *   prefix: 'locks:',
 * });
 * const lease = await locks.acquire('orders', { ttlMs: 10_000 });
 */
export class QuorumRedisLocks {
  /** floor(N/2)+1 */
  readonly majority: number;
  /** How many servers may fail a vote that still succeeds: N − majority. */
  readonly spare: number;
  private readonly runners: ScriptRunner[];
  private readonly hubs: WakeHub[];
  private readonly prefix: string;
  private readonly recheckMs: number;
  /** @internal */
  readonly scheduler: SchedulerLike;
  private readonly events: LockEvents;

  constructor(clients: readonly Redis[], config: RedisLocksSettings) {
    if (new Set(clients).size !== clients.length) {
      throw new TypeError('redis must list a distinct client per server (quorum mode)');
    }
    if (clients.some((c) => (c as { isCluster?: boolean }).isCluster === true)) {
      throw new TypeError('redis must list independent Redis servers, not Cluster clients');
    }
    const { prefix, commandTimeoutMs, recheckMs, scheduler } = config;
    this.prefix = prefix;
    this.recheckMs = recheckMs;
    this.scheduler = scheduler;
    this.events = config.events;
    this.majority = Math.floor(clients.length / 2) + 1;
    this.spare = clients.length - this.majority;
    const scripts = [ACQUIRE, RATCHET, EXTEND, RELEASE];
    this.runners = clients.map((c) => new ScriptRunner(c, scripts, commandTimeoutMs, scheduler));
    this.hubs = clients.map((c) => new WakeHub(c, recheckMs, scheduler));
  }

  acquire(
    key: string,
    ttlMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<LockLease> {
    if (signal?.aborted) {
      return Promise.reject(new AbortedError(`acquire of lock "${key}" aborted`));
    }
    const startedAt = this.scheduler.now();
    if (waitMs === 0) return this.tryOnce(key, ttlMs, startedAt);
    return this.wait(key, ttlMs, { waitMs, signal, startedAt });
  }

  /** Closes the pub/sub connections this instance opened and, once idle, its deadline timers. */
  close(): void {
    for (const hub of this.hubs) hub.close();
    for (const runner of this.runners) runner.close();
  }

  /**
   * Sends one call per server (all, or `servers`) and settles once `needed` answers pass
   * `accept`, or once too many refusals and failures make that impossible (`collectVotes`).
   * Never rejects. @internal
   */
  vote(
    call: (runner: ScriptRunner) => Promise<unknown>,
    accept: (reply: unknown) => boolean,
    servers: readonly number[] = this.runners.map((_, i) => i),
    needed = this.majority,
  ): Promise<Tally> {
    const votes = servers.map((server) => ({ server, reply: call(this.runners[server]) }));
    return collectVotes(votes, accept, needed);
  }

  /** The error for a vote that failed for lack of answers: a non-transient one if any. @internal */
  unavailable(errors: readonly Error[]): Error {
    return unavailableError(errors, this.runners.length);
  }

  private keys(key: string): QuorumKeys {
    const k = this.prefix + key;
    const queue = `${k}:queue`;
    const waiters = `${k}:waiters`;
    return {
      lock: [k],
      fenced: [k, `${k}:fence`, queue, waiters],
      queued: [k, queue, waiters],
      channel: `${k}:wake`,
    };
  }

  private async tryOnce(key: string, ttlMs: number, startedAt: number): Promise<LockLease> {
    const outcome = await this.attempt(key, ttlMs);
    if (outcome.kind === 'acquired') {
      outcome.lease.announce(this.events, startedAt);
      return outcome.lease;
    }
    if (outcome.kind === 'failed') throw outcome.error;
    this.events.timeout(key, startedAt);
    throw new LockTimeoutError(key, 0);
  }

  /**
   * One acquire round (joining or refreshing the queues if `waiter` is given): the key on a
   * majority, then the fence ratchet; undone unless acquired.
   */
  private async attempt(key: string, ttlMs: number, waiter?: Waiter): Promise<Attempt> {
    const keys = this.keys(key);
    const token = randomUUID();
    const id = waiter?.id ?? token;
    const args = [token, String(ttlMs), id, waiter?.ticket ?? '', String(this.recheckMs * 3)];
    const sentAt = this.scheduler.now();
    const votes = await this.vote(
      (runner) => runner.run(ACQUIRE, keys.fenced, args),
      (reply) => (reply as [number, string])[0] === 1,
    );
    const taken = votes.yes.length >= this.majority;
    if (taken) {
      const fence = await this.ratchet(keys, token, votes.yes);
      const claim = { key, keys, token, waiterId: id, ttlMs };
      const lease = fence === undefined ? undefined : new QuorumLease(this, claim, fence);
      // A majority that answered past the proof's validity (a pause) proves nothing: undo, retry.
      if (lease?.confirm(sentAt, ttlMs)) return { kind: 'acquired', lease };
    }
    this.undo(keys, token, id, votes);
    if (taken) return { kind: 'retry' };
    // A vote decided while failures and silent servers together exceed the spare cannot tell
    // "queued" or "split vote" from "too few servers answer": with a majority down, one live
    // server's "held" reply would read as a split vote and the waiter would retry until waitMs
    // instead of failing BackendUnavailableError. Only then wait for the rest (each has its
    // deadline); a healthy or one-dead quorum is still classified at the decision.
    const ambiguous = votes.errors.length + votes.pending > this.spare;
    return this.classify(ambiguous ? await votes.complete : votes);
  }

  /** Leaves every server's queue, waking the next waiter where the key is free. */
  private leave(keys: QuorumKeys, waiterId: string): void {
    for (const runner of this.runners) {
      runner.run(RELEASE, keys.queued, ['', keys.channel, waiterId, '1']).catch(() => undefined);
    }
  }

  /**
   * Compare-and-deletes a failed round's token on every server that did not refuse it (queued
   * behind the acquire on each connection, so an acquire that lands late is undone too); the
   * waiter keeps its place in the queues.
   */
  private undo(keys: QuorumKeys, token: string, waiterId: string, votes: Tally): void {
    const refused = new Set(votes.no.map((b) => b.server));
    this.runners.forEach((runner, server) => {
      if (refused.has(server)) return;
      runner.run(RELEASE, keys.queued, [token, keys.channel, waiterId, '0']).catch(() => undefined);
    });
  }

  /**
   * Phase 2: F = the highest fence among the majority; raises the counter to F on the majority
   * servers that are behind. Returns F once a majority holds a counter >= F, else undefined.
   */
  private async ratchet(
    keys: QuorumKeys,
    token: string,
    taken: readonly Ballot[],
  ): Promise<bigint | undefined> {
    const fences = taken.map((b) => BigInt((b.reply as [number, string])[1]));
    const fence = fences.reduce((a, b) => (b > a ? b : a));
    const behind = taken.filter((_, i) => fences[i] < fence).map((b) => b.server);
    const needed = this.majority - (taken.length - behind.length);
    if (needed <= 0) return fence;
    const votes = await this.vote(
      (runner) => runner.run(RATCHET, keys.fenced, [token, String(fence)]),
      (reply) => reply === 1,
      behind,
      needed,
    );
    return votes.yes.length >= needed ? fence : undefined;
  }

  private classify(votes: Tally): Attempt {
    if (votes.errors.length > this.spare) {
      return { kind: 'failed', error: this.unavailable(votes.errors) };
    }
    // A waiter ahead of us is woken before us, and wakes us (or the re-check does) when it is done.
    if (votes.no.some((b) => (b.reply as [number, string, number])[2] === 1)) {
      return { kind: 'queued' };
    }
    const seen = new Map<string, number>();
    for (const b of votes.no) {
      const holder = (b.reply as [number, string])[1];
      seen.set(holder, (seen.get(holder) ?? 0) + 1);
    }
    // A token seen on a majority releases (waking the first waiter) or expires (the re-check).
    // Anything less is a split vote among strangers, which waits for nobody.
    if (Math.max(0, ...seen.values()) >= this.majority) return { kind: 'queued' };
    return { kind: 'retry' };
  }

  /** Acquire rounds until one succeeds, on wake-ups, re-checks and split-vote back-offs. */
  private wait(
    key: string,
    ttlMs: number,
    { waitMs, signal, startedAt }: { waitMs: number; signal?: AbortSignal; startedAt: number },
  ): Promise<LockLease> {
    return new Promise<LockLease>((resolve, reject) => {
      const keys = this.keys(key);
      const { channel } = keys;
      const waiter: Waiter = { id: randomUUID(), ticket: String(startedAt) };
      const stops: (() => void)[] = [];
      const listening = new Set<WakeHub>();
      let splits = 0;
      let rounds = 0;
      let backoff: Subscription | undefined;
      const loop: WaitLoop<QuorumLease> = new WaitLoop<QuorumLease>(
        {
          key,
          waitMs,
          recheckMs: this.recheckMs,
          signal,
          scheduler: this.scheduler,
          events: this.events,
          startedAt,
          round: async () => {
            backoff?.unsubscribe();
            backoff = undefined;
            const firstRound = rounds++ === 0;
            const outcome = await this.attempt(key, ttlMs, waiter);
            if (outcome.kind === 'acquired') {
              if (loop.finished) void outcome.lease.release().catch(() => undefined);
              else loop.succeed(outcome.lease);
              return;
            }
            if (loop.finished) return;
            listen(false); // from the first failed round on, every server's wake channel
            if (outcome.kind === 'failed') {
              // As in single mode: servers unreachable from the start fail the call within its
              // deadline; once queued, a failed round is retried until waitMs.
              if (firstRound) return loop.fail(outcome.error);
              throw outcome.error;
            }
            if (outcome.kind === 'retry') {
              const bound = Math.min(SPLIT_JITTER_MS * 2 ** splits++, this.recheckMs);
              backoff = scheduleOnce(this.scheduler, Math.random() * bound, loop.run);
            } else splits = 0;
          },
          onEnd: (error) => {
            for (const stop of stops) stop();
            backoff?.unsubscribe();
            // Sent after any round in flight, whose lease is then released.
            if (error) this.leave(keys, waiter.id);
          },
        },
        resolve,
        reject,
      );
      const onWake = (id: string) => {
        if (id === waiter.id && !backoff) loop.run();
      };
      // A release may have slipped in before the subscription was confirmed.
      const onActive = () => (backoff ? undefined : loop.run());
      const listen = (subscribedOnly: boolean) => {
        for (const hub of this.hubs) {
          const generation = hub.activeGeneration(channel);
          if (listening.has(hub) || (subscribedOnly && generation === undefined)) continue;
          listening.add(hub);
          // Joining after a round: onActive runs once confirmed, as a release may have come first.
          const since = subscribedOnly ? generation : undefined;
          stops.push(hub.listen(channel, onWake, onActive, since));
        }
      };

      // Channels already subscribed (contention) listen before the first round, so a release
      // that lands meanwhile is not missed; the others subscribe only if that round fails.
      listen(true);
      loop.start();
      loop.run();
    });
  }
}
