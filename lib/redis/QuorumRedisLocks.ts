import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
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
import type { RedisLocksSettings } from './SingleRedisLocks.js';
import { MIN_TTL_MS, TimedLease } from './TimedLease.js';
import { WaitLoop } from './WaitLoop.js';
import { WakeHub } from './WakeHub.js';

/**
 * Server time in ms, and the first waiter (by ticket, then id) whose entry has not expired;
 * expired entries at the head are dropped. KEYS[q] = queue (zset id → ticket), KEYS[w] = waiters
 * (hash id → entry expiry in server ms).
 */
const QUEUE = (q: number, w: number) => `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_head()
  local first = redis.call('ZRANGE', KEYS[${q}], 0, 0)
  if #first == 0 then return nil end
  local now = now_ms()
  while #first > 0 do
    if tonumber(redis.call('HGET', KEYS[${w}], first[1]) or '0') > now then return first[1] end
    redis.call('ZREM', KEYS[${q}], first[1])
    redis.call('HDEL', KEYS[${w}], first[1])
    first = redis.call('ZRANGE', KEYS[${q}], 0, 0)
  end
  return nil
end
`;

/**
 * KEYS: lock key, fence counter, queue, waiters. ARGV: token, ttl ms, waiter id, ticket (client
 * ms at the start of the wait; '' for a single try), entry ttl ms. With neither a holder nor a
 * queue the key is taken at once. Otherwise a waiter joins the queue (or refreshes its entry)
 * with its ticket, the same on every server, so every server orders waiters alike, and the key
 * is taken only if it is free and the caller is the first live waiter (a single try: nobody
 * waits). Taking is `SET NX PX` plus an INCR of the fence counter, seeded from server time in µs
 * when it starts over. Returns {1, fence}, or {0, holder's token or '', 1 if a waiter is ahead
 * else 0}. Fences travel as strings (GET), exact beyond 2^53.
 */
const ACQUIRE = luaScript(`
local function take()
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if redis.call('INCR', KEYS[2]) == 1 then
    local t = redis.call('TIME')
    redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
    redis.call('INCR', KEYS[2])
  end
  return {1, redis.call('GET', KEYS[2])}
end
if redis.call('EXISTS', KEYS[1], KEYS[3]) == 0 then return take() end
${QUEUE(3, 4)}
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[3])
  redis.call('HSET', KEYS[4], ARGV[3], now_ms() + tonumber(ARGV[5]))
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
end
local holder = redis.call('GET', KEYS[1])
if holder then return {0, holder, 0} end
local head = live_head()
if head ~= nil and head ~= ARGV[3] then return {0, '', 1} end
return take()
`);

/**
 * KEYS: lock key, fence counter. ARGV: token, fence. While the key holds the token, raises the
 * counter to at least the fence (decimal strings compared by length, then digits). Returns 1 or
 * 0 (not ours).
 */
const RATCHET = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local current = redis.call('GET', KEYS[2]) or '0'
if #ARGV[2] > #current or (#ARGV[2] == #current and ARGV[2] > current) then
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1
`);

/** KEYS: lock key. ARGV: token, ttl ms. Compare-and-pexpire. Returns 1 or 0 (not ours). */
const EXTEND = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

/**
 * KEYS: lock key, queue, waiters. ARGV: token, wake channel, waiter id, '1' to leave the queue.
 * Compare-and-delete (nothing more while nobody queues); then, if the key is free, wakes the
 * first live waiter (PUBLISH of its id) unless that is the caller. Returns 1, or 0 if the key did
 * not hold the token.
 */
const RELEASE = luaScript(`
local ours = redis.call('GET', KEYS[1]) == ARGV[1]
if ours and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
${QUEUE(2, 3)}
if ours then redis.call('DEL', KEYS[1]) end
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('HDEL', KEYS[3], ARGV[3])
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  local head = live_head()
  if head ~= nil and head ~= ARGV[3] then redis.call('PUBLISH', ARGV[2], head) end
end
if ours then return 1 end
return 0
`);

/** Upper bound of the first random back-off after a split vote; it doubles per repeat. */
const SPLIT_JITTER_MS = 20;

interface QuorumKeys {
  /** The lock key alone (extend). */
  lock: [string];
  /** The lock key, its fence counter, queue and waiters (acquire, ratchet). */
  fenced: [string, string, string, string];
  /** The lock key, its queue and waiters (release, leave). */
  queued: [string, string, string];
  channel: string;
}

/** A waiting acquire: its place in every server's queue. */
interface Waiter {
  id: string;
  /** Client time in ms when the wait began: the same order key on every server. */
  ticket: string;
}

/** One server's answer in a {@link Tally}. */
interface Ballot {
  server: number;
  reply: unknown;
}

/** The answers of one parallel call, as far as they were in when it was decided. */
interface Tally {
  yes: Ballot[];
  no: Ballot[];
  errors: Error[];
  /** Servers that had not answered yet. */
  pending: number;
  /** Every server's answer, once all are in (each call has its deadline, so it settles). */
  complete: Promise<Tally>;
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
    if (waitMs === 0) return this.tryOnce(key, ttlMs);
    return this.wait(key, ttlMs, waitMs, signal);
  }

  /** Closes the pub/sub connections this instance opened and, once idle, its deadline timers. */
  close(): void {
    for (const hub of this.hubs) hub.close();
    for (const runner of this.runners) runner.close();
  }

  /**
   * Sends one call per server (all, or `servers`) and settles once `needed` answers pass
   * `accept`, or once too many refusals and failures make that impossible; later answers only
   * go into the tally's `complete`. Never rejects. @internal
   */
  vote(
    call: (runner: ScriptRunner) => Promise<unknown>,
    accept: (reply: unknown) => boolean,
    servers: readonly number[] = this.runners.map((_, i) => i),
    needed = this.majority,
  ): Promise<Tally> {
    return new Promise((resolve) => {
      // The running count goes on after the decision, for `complete`; the decision gets a copy.
      const all: Omit<Tally, 'complete'> = { yes: [], no: [], errors: [], pending: servers.length };
      let decided = false;
      const decide = () => {
        decided = true;
        resolve({ ...all, yes: [...all.yes], no: [...all.no], errors: [...all.errors], complete });
      };
      const count = (update: () => void) => {
        all.pending--;
        update();
        const refused = all.no.length + all.errors.length;
        if (decided) return;
        if (all.yes.length >= needed || refused > servers.length - needed || !all.pending) decide();
      };
      const counted = servers.map((server) =>
        call(this.runners[server]).then(
          (reply) => count(() => (accept(reply) ? all.yes : all.no).push({ server, reply })),
          (e: Error) => count(() => all.errors.push(e)),
        ),
      );
      const complete: Promise<Tally> = Promise.all(counted).then(() => ({ ...all, complete }));
      if (servers.length === 0) decide();
    });
  }

  /** The error for a vote that failed for lack of answers: a non-transient one if any. @internal */
  unavailable(errors: readonly Error[]): Error {
    const hard = errors.find((e) => !isBackendUnavailableError(e));
    if (hard) return hard;
    return new BackendUnavailableError(
      'redis',
      `${errors.length} of ${this.runners.length} redis servers failed: ${errors[0]?.message}`,
      { cause: errors[0] },
    );
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

  private async tryOnce(key: string, ttlMs: number): Promise<LockLease> {
    const outcome = await this.attempt(key, ttlMs);
    if (outcome.kind === 'acquired') return outcome.lease;
    if (outcome.kind === 'failed') throw outcome.error;
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
      const lease =
        fence === undefined ? undefined : new QuorumLease(this, key, keys, token, id, fence, ttlMs);
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
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<LockLease> {
    return new Promise<LockLease>((resolve, reject) => {
      const keys = this.keys(key);
      const { channel } = keys;
      const waiter: Waiter = { id: randomUUID(), ticket: String(this.scheduler.now()) };
      const stops: (() => void)[] = [];
      const listening = new Set<WakeHub>();
      let splits = 0;
      let rounds = 0;
      let backoff: Subscription | undefined;
      const loop: WaitLoop<QuorumLease> = new WaitLoop(
        {
          key,
          waitMs,
          recheckMs: this.recheckMs,
          signal,
          scheduler: this.scheduler,
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

/** A quorum lease: extend and release are votes of all servers. */
class QuorumLease extends TimedLease {
  constructor(
    private readonly locks: QuorumRedisLocks,
    key: string,
    private readonly keys: QuorumKeys,
    private readonly token: string,
    /** Its queue entries, dropped by the release. */
    private readonly waiterId: string,
    fence: bigint,
    ttlMs: number,
  ) {
    super(key, fence, ttlMs, locks.scheduler);
  }

  async extend(ttlMs: number = this.ttlMs): Promise<void> {
    validateMs('ttlMs', ttlMs, MIN_TTL_MS);
    this.assertHeld();
    const sentAt = this.scheduler.now();
    const votes = await this.locks.vote(
      (runner) => runner.run(EXTEND, this.keys.lock, [this.token, String(ttlMs)]),
      (reply) => reply === 1,
    );
    this.assertHeld();
    if (votes.yes.length < this.locks.majority) {
      if (votes.no.length <= this.locks.spare) throw this.locks.unavailable(votes.errors);
      this.lose('the key no longer holds this lease on a majority of servers');
      throw this.endedError();
    }
    if (!this.confirm(sentAt, ttlMs)) {
      throw new BackendUnavailableError('redis', 'the extend was confirmed past its own validity');
    }
    this.ttlMs = ttlMs;
  }

  protected async doRelease(): Promise<void> {
    this.expireIfDue();
    const wasLost = this.end.lost;
    // Even a lost lease sends the compare-and-delete: it frees only keys still holding our token.
    const votes = this.locks.vote(
      (runner) =>
        runner.run(RELEASE, this.keys.queued, [this.token, this.keys.channel, this.waiterId, '1']),
      (reply) => reply === 1,
    );
    if (wasLost) throw this.endedError();
    const { yes, no, errors } = await votes;
    if (yes.length < this.locks.majority && no.length > this.locks.spare) {
      this.lose('the key no longer holds this lease on a majority of servers');
      throw this.endedError();
    }
    this.finish();
    if (yes.length < this.locks.majority) throw this.locks.unavailable(errors); // keys expire by TTL
  }
}
