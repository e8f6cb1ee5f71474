import type { Cluster, Redis } from 'ioredis';
import { Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { v4 as uuid } from 'uuid';
import type {
  CampaignOptions,
  Candidacy,
  ElectionBackend,
  Leader,
} from '../election/ElectionBackend.js';
import { BackendUnavailableError, NotLeaderError, TimeoutError } from '../errors.js';
import { resolveScheduler, scheduleOnce } from '../internal/scheduler.js';
import { validateInteger, validateNonEmptyString, validateObject } from '../internal/validate.js';

/** Options of {@link RedisElection}. */
export interface RedisElectionConfig {
  /** Prepended to every key and channel. Default `'election:'`. */
  prefix?: string;
  /** Default leadership time to live (ms) of a campaign. Default 10 000. */
  ttlMs?: number;
  /** Deadline of one Redis call (ms). Default: the TTL of the campaign, 5 000 for `observe`. */
  callTimeoutMs?: number;
  /** Clock and timers (renewals, expiry checks, re-checks). Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

// The leader key holds `<token>|<term>|<value>`: the token identifies one campaign attempt.
// Terms travel as strings (GET after INCR): Lua numbers are doubles and print 16 digits as 1e+15.
const MATCH = `local cur = redis.call('GET', KEYS[1])
local mine = cur and string.sub(cur, 1, #ARGV[1] + 1) == ARGV[1] .. '|'
`;
/**
 * Becomes leader with a fresh term (INCR) if nobody leads. -> {1, value, ttl} | {0, value, pttl}
 * A missing counter (new election, or a Redis that lost its data) starts at the server's clock
 * in microseconds, so terms keep increasing across a restart without persistence.
 */
const CAMPAIGN = `local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur, redis.call('PTTL', KEYS[1])} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[2], now[1] .. string.format('%06d', tonumber(now[2])))
end
redis.call('INCR', KEYS[2])
local v = ARGV[1] .. '|' .. redis.call('GET', KEYS[2]) .. '|' .. ARGV[2]
redis.call('SET', KEYS[1], v, 'NX', 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], v)
return {1, v, tonumber(ARGV[3])}`;
const RENEW = `${MATCH}if mine then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RESIGN = `${MATCH}if mine then redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[2], '') return 1 end
return 0`;
const PROCLAIM = `${MATCH}if mine and string.sub(cur, #ARGV[1] + 2, #ARGV[1] + #ARGV[2] + 2) == ARGV[2] .. '|' then
  local v = ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3]
  redis.call('SET', KEYS[1], v, 'KEEPTTL') redis.call('PUBLISH', ARGV[4], v) return 1 end
return 0`;
const READ = `return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}`;

function parseLeader(raw: string | null | false | undefined): Leader | null {
  const match = raw ? /^([^|]*)\|(\d+)\|(.*)$/s.exec(raw) : null;
  return match ? { id: match[1], term: BigInt(match[2]), value: match[3] } : null;
}

const sameLeader = (a: Leader | null, b: Leader | null) =>
  a === b ||
  (a !== null && b !== null && a.id === b.id && a.term === b.term && a.value === b.value);

interface ChannelListener {
  /** Something changed (a message, or the subscription (re)connected): re-read the truth. */
  poke(): void;
}

/**
 * Leader election on Redis. The leader holds the key `prefix + name` (set with `SET NX PX` by
 * a Lua script that also INCRements the term counter `prefix + name + ':term'`, so terms strictly
 * increase; a lost counter restarts from the server clock in microseconds) and renews it every TTL/3. Every change is PUBLISHed on `prefix + name + ':leader'`,
 * so waiting candidates and observers react at once; each also re-reads at the latest when the
 * current leader's key would expire (a crashed leader publishes nothing), bounded by the TTL.
 *
 * Leadership is judged from SEND time: a renewal sent at `t` proves it until `t + ttl`, which is
 * never later than Redis expires the key, so `isLeader: false` is emitted before anyone else can
 * win. One Redis (or one Cluster slot: put a hash tag in `name`) is the single point of truth:
 * leadership survives a failover to a replica only if the replica had the key.
 *
 * ```
 * campaign (A):  t---------------|       A resigns: DEL + PUBLISH
 * campaign (B):  f---------------t---    B wakes on the message, wins term 2
 * observe:       A---------------B---
 * ```
 *
 * @example
 * const election = new RedisElection(new Redis(url), { ttlMs: 5_000 });
 * election.campaign('cron', os.hostname()).pipe(whileLeader((term) => runCron(term))).subscribe();
 */
export class RedisElection implements ElectionBackend {
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly callTimeoutMs: number | undefined;
  private readonly scheduler: SchedulerLike;
  private subscriberConnection: Redis | Cluster | undefined;
  private readonly channels = new Map<string, Set<ChannelListener>>();

  constructor(
    private readonly redis: Redis | Cluster,
    config?: RedisElectionConfig,
  ) {
    if (typeof redis !== 'object' || redis === null || typeof redis.eval !== 'function')
      throw new TypeError('redis must be an ioredis Redis or Cluster client');
    const options = validateObject('config', config);
    this.prefix = options.prefix ?? 'election:';
    if (typeof this.prefix !== 'string')
      throw new TypeError(`prefix must be a string, got ${typeof this.prefix}`);
    this.ttlMs = validateInteger('ttlMs', options.ttlMs ?? 10_000, 3);
    this.callTimeoutMs =
      options.callTimeoutMs === undefined
        ? undefined
        : validateInteger('callTimeoutMs', options.callTimeoutMs, 1);
    this.scheduler = resolveScheduler(options.scheduler);
  }

  campaign(name: string, candidate: string, options?: CampaignOptions): Observable<Candidacy> {
    validateNonEmptyString('name', name);
    if (typeof candidate !== 'string')
      throw new TypeError(`candidate must be a string, got ${typeof candidate}`);
    const ttlMs = validateInteger(
      'ttlMs',
      validateObject('options', options).ttlMs ?? this.ttlMs,
      3,
    );
    const keys = this.keys(name);
    const timeoutMs = this.callTimeoutMs ?? ttlMs;
    return new Observable<Candidacy>((subscriber) => {
      let closed = false;
      let token = uuid();
      let leading = false;
      let term = 0n;
      let validUntil = 0;
      let emitted: { isLeader: boolean; term: bigint } | undefined;
      let attempting = false;
      let again = false;
      let recheck: Subscription | undefined;
      let renewal: Subscription | undefined;
      let expiry: Subscription | undefined;

      const emit = () => {
        if (closed || (emitted?.isLeader === leading && emitted.term === term)) return;
        emitted = { isLeader: leading, term };
        subscriber.next(this.candidacy(keys, token, leading, term));
      };
      const stopTimers = () => {
        recheck?.unsubscribe();
        renewal?.unsubscribe();
        expiry?.unsubscribe();
      };
      /** Leadership can no longer be proven: say so first, then clean up and run again. */
      const lose = () => {
        if (!leading) return;
        leading = false;
        stopTimers();
        emit();
        this.resign(keys, token);
        token = uuid();
        attempt();
      };
      const checkValidity = () => {
        if (leading && this.scheduler.now() >= validUntil) lose();
      };
      const scheduleExpiry = () => {
        expiry?.unsubscribe();
        expiry = scheduleOnce(this.scheduler, validUntil - this.scheduler.now(), checkValidity);
      };
      const renew = () => {
        renewal = scheduleOnce(this.scheduler, Math.floor(ttlMs / 3), () => {
          checkValidity();
          if (!leading) return;
          const sentAt = this.scheduler.now();
          const renewing = token;
          this.call<number>(RENEW, [keys.leader], [token, ttlMs], timeoutMs).then(
            (ok) => {
              if (closed || !leading || token !== renewing) return;
              if (ok !== 1) return lose();
              if (sentAt < validUntil) {
                validUntil = Math.max(validUntil, sentAt + ttlMs);
                scheduleExpiry();
              }
            },
            () => undefined, // the expiry check decides
          );
          renew();
        });
      };
      const scheduleRecheck = (delayMs: number) => {
        recheck?.unsubscribe();
        recheck = scheduleOnce(this.scheduler, Math.min(Math.max(1, delayMs), ttlMs), attempt);
      };
      const attempt = (): void => {
        if (closed || leading) return;
        if (attempting) {
          again = true;
          return;
        }
        attempting = true;
        again = false;
        const sentAt = this.scheduler.now();
        const trying = token;
        this.call<[number, string, number]>(
          CAMPAIGN,
          [keys.leader, keys.term],
          [trying, candidate, ttlMs, keys.channel],
          timeoutMs,
        ).then(
          ([won, raw, pttl]) => {
            attempting = false;
            if (closed || token !== trying) {
              if (won === 1) this.resign(keys, trying); // a late win nobody waits for
              return;
            }
            if (won === 1 && this.scheduler.now() >= sentAt + ttlMs) {
              // The reply came after the key's TTL ran out: that leadership was never provable.
              this.resign(keys, trying);
              token = uuid();
              scheduleRecheck(1);
            } else if (won === 1) {
              leading = true;
              term = parseLeader(raw)!.term;
              validUntil = sentAt + ttlMs;
              recheck?.unsubscribe();
              scheduleExpiry();
              renew();
              emit();
            } else {
              emit();
              scheduleRecheck(pttl > 0 ? pttl + 1 : ttlMs);
              if (again) attempt();
            }
          },
          () => {
            attempting = false;
            if (closed) return;
            token = uuid(); // the attempt may still land: never reuse its token
            emit();
            scheduleRecheck(Math.floor(ttlMs / 3));
          },
        );
      };

      const unlisten = this.listen(keys.channel, { poke: attempt });
      return () => {
        closed = true;
        stopTimers();
        unlisten();
        if (leading || attempting) this.resign(keys, token);
      };
    });
  }

  observe(name: string): Observable<Leader | null> {
    validateNonEmptyString('name', name);
    const keys = this.keys(name);
    const timeoutMs = this.callTimeoutMs ?? 5_000;
    return new Observable<Leader | null>((subscriber) => {
      let closed = false;
      let emitted: Leader | null | undefined;
      let reading = false;
      let again = false;
      let recheck: Subscription | undefined;
      const read = () => {
        if (closed) return;
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        again = false;
        recheck?.unsubscribe();
        this.call<[string | null, number]>(READ, [keys.leader], [], timeoutMs).then(
          ([raw, pttl]) => {
            reading = false;
            if (closed) return;
            const leader = parseLeader(raw);
            // A leader that crashes publishes nothing: look again when its key would expire.
            recheck = scheduleOnce(
              this.scheduler,
              Math.min(leader && pttl > 0 ? pttl + 1 : this.ttlMs, this.ttlMs),
              read,
            );
            if (emitted === undefined || !sameLeader(emitted, leader)) {
              emitted = leader;
              subscriber.next(leader);
            }
            if (again) read();
          },
          () => {
            reading = false;
            if (!closed) recheck = scheduleOnce(this.scheduler, Math.floor(this.ttlMs / 3), read);
          },
        );
      };
      const unlisten = this.listen(keys.channel, { poke: read });
      return () => {
        closed = true;
        recheck?.unsubscribe();
        unlisten();
      };
    });
  }

  private keys(name: string) {
    const leader = this.prefix + name;
    return { leader, term: `${leader}:term`, channel: `${leader}:leader` };
  }

  private candidacy(
    keys: ReturnType<RedisElection['keys']>,
    token: string,
    isLeader: boolean,
    term: bigint,
  ): Candidacy {
    return {
      isLeader,
      term,
      id: token,
      proclaim: async (value: string) => {
        const ok =
          isLeader &&
          (await this.call<number>(
            PROCLAIM,
            [keys.leader],
            [token, String(term), value, keys.channel],
            this.callTimeoutMs ?? this.ttlMs,
          )) === 1;
        if (!ok) throw new NotLeaderError(`campaign ${token} does not lead term ${term}`);
      },
    };
  }

  /** Compare-and-delete of the leader key; best effort (it expires anyway). */
  private resign(keys: ReturnType<RedisElection['keys']>, token: string): void {
    const timeoutMs = this.callTimeoutMs ?? this.ttlMs;
    this.call(RESIGN, [keys.leader], [token, keys.channel], timeoutMs).catch(() => undefined);
  }

  /** Runs a Lua script with a deadline; failures become `BackendUnavailableError`. */
  private call<T>(script: string, keys: string[], args: (string | number)[], timeoutMs: number) {
    return new Promise<T>((resolve, reject) => {
      const timer = scheduleOnce(this.scheduler, timeoutMs, () =>
        reject(
          new BackendUnavailableError('redis', `redis did not answer within ${timeoutMs} ms`, {
            cause: new TimeoutError(timeoutMs),
          }),
        ),
      );
      this.redis.eval(script, keys.length, ...keys, ...args).then(
        (result) => {
          timer.unsubscribe();
          resolve(result as T);
        },
        (e: unknown) => {
          timer.unsubscribe();
          reject(new BackendUnavailableError('redis', 'redis call failed', { cause: e }));
        },
      );
    });
  }

  /**
   * Shares one subscriber connection (a duplicate of the client) among every campaign and
   * observer of this instance; it is closed when the last one leaves. Listeners are poked once
   * the channel subscription is confirmed and after every reconnect, so they never miss a change
   * between their read and the subscription.
   */
  private listen(channel: string, listener: ChannelListener): () => void {
    let connection = this.subscriberConnection;
    if (connection === undefined) {
      const redis = this.redis;
      connection = redis.isCluster ? (redis as Cluster).duplicate() : (redis as Redis).duplicate();
      this.subscriberConnection = connection;
      connection.on('error', () => undefined); // reconnects by itself; timers cover the gap
      connection.on('message', (ch: string) => {
        for (const l of [...(this.channels.get(ch) ?? [])]) l.poke();
      });
      connection.on('ready', () => {
        for (const set of this.channels.values()) for (const l of [...set]) l.poke();
      });
    }
    let listeners = this.channels.get(channel);
    if (listeners === undefined) {
      const fresh = new Set<ChannelListener>();
      listeners = fresh;
      this.channels.set(channel, fresh);
      connection.subscribe(channel).then(
        () => {
          for (const l of [...fresh]) l.poke();
        },
        () => {
          for (const l of [...fresh]) l.poke(); // unsubscribed for now: the timers poll instead
        },
      );
      listeners.add(listener);
    } else {
      listeners.add(listener);
      listener.poke();
    }
    return () => {
      const set = this.channels.get(channel);
      if (!set?.delete(listener) || set.size > 0) return;
      this.channels.delete(channel);
      if (this.channels.size === 0) {
        this.subscriberConnection = undefined;
        connection.disconnect();
      } else {
        connection.unsubscribe(channel).catch(() => undefined);
      }
    };
  }
}
