import type { Cluster, Redis } from 'ioredis';
import { Observable, type SchedulerLike } from 'rxjs';
import type {
  CampaignOptions,
  Candidacy,
  ElectionBackend,
  ElectionEvent,
  Leader,
} from '../election/ElectionBackend.js';
import { TermEvents } from '../election/internal/TermEvents.js';
import { NotLeaderError } from '../errors.js';
import { EventStream } from '../internal/EventStream.js';
import { resolveScheduler } from '../internal/scheduler.js';
import { validateMs, validateNonEmptyString, validateOptions } from '../internal/validate.js';
import { ElectionChannels } from './ElectionChannels.js';
import {
  ELECTION_SCRIPTS,
  electionKeys,
  type ElectionKeys,
  PROCLAIM,
  RESIGN,
  validateElectionName,
} from './electionScripts.js';
import { isRedisClient } from './redisClient.js';
import { subscribeCampaign } from './redisCampaign.js';
import { subscribeObserve } from './redisObserve.js';
import { ScriptRunner } from './ScriptRunner.js';

/** Options of {@link RedisElection}. */
export interface RedisElectionConfig {
  /** Prepended to every key and channel. Default `'election:'`. */
  prefix?: string;
  /** Default leadership time to live (ms) of a campaign, 3 to 2^31 − 1. Default 10 000. */
  ttlMs?: number;
  /**
   * Deadline of one Redis call (ms), as in `RedisLocks`: a campaign attempt, renewal, read,
   * proclaim or resign without a reply by then fails with `BackendUnavailableError`, whatever the
   * client's own retry settings. Default 2 000.
   */
  commandTimeoutMs?: number;
  /** @deprecated The former name of `commandTimeoutMs`; give one of the two. */
  callTimeoutMs?: number;
  /** Clock and timers (renewals, expiry checks, re-checks, deadlines). Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

const CONFIG_KEYS = ['prefix', 'ttlMs', 'commandTimeoutMs', 'callTimeoutMs', 'scheduler'] as const;
const CAMPAIGN_KEYS = ['ttlMs'] as const;
/** A TTL below 3 ms leaves no validity after the drift allowance (1 % + 2 ms). */
const MIN_TTL_MS = 3;

function commandTimeout(options: RedisElectionConfig): number {
  const { commandTimeoutMs, callTimeoutMs } = options;
  if (commandTimeoutMs !== undefined && callTimeoutMs !== undefined)
    throw new TypeError('give commandTimeoutMs or its former name callTimeoutMs, not both');
  if (callTimeoutMs !== undefined) return validateMs('callTimeoutMs', callTimeoutMs, 1);
  return validateMs('commandTimeoutMs', commandTimeoutMs ?? 2000, 1);
}

/**
 * Leader election on Redis. The leader holds the key `prefix + name` (set with `SET NX PX` by
 * a Lua script that also INCRements the term counter `prefix + name + ':term'`, so terms strictly
 * increase; a lost counter restarts from the server clock in microseconds) and renews it every
 * TTL/3. Every change is PUBLISHed on `prefix + name + ':leader'` with its term, so waiting
 * candidates react at once and observers see every term in order, even a leader that resigned
 * at once; each also re-reads when the current leader's key would expire (a crashed leader
 * publishes nothing), bounded by the TTL.
 *
 * Leadership is judged from SEND time: a renewal sent at `t` proves it until
 * `t + ttl − (1 % of ttl + 2 ms)`, which is before Redis can expire the key even when this
 * process's clock runs 1 % slow or its timers fire early, so `isLeader: false` is emitted
 * before anyone else can win. Every call has a deadline (`commandTimeoutMs`): against a dead
 * Redis a campaign emits `isLeader: false` within it and keeps trying, an observer that has not
 * yet named a leader errors `BackendUnavailableError`, `proclaim` rejects. One Redis (or one
 * Cluster slot: put a hash tag in the prefix or name) is the single point of truth: leadership
 * survives a failover to a replica only if the replica had the key.
 *
 * ```
 * campaign (A):  t---------------|       A resigns: DEL + PUBLISH ''
 * campaign (B):  f---------------t---    B wakes on the message, wins term 2
 * observe:       A---------------nB--   (n: the read after '' finds nobody)
 * ```
 *
 * @example
 * const election = new RedisElection(new Redis(url), { ttlMs: 5_000 });
 * election.campaign('cron', os.hostname()).pipe(whileLeader((term) => runCron(term))).subscribe();
 */
export class RedisElection implements ElectionBackend {
  readonly #events: EventStream<ElectionEvent>;
  /**
   * Terms won, resigned and lost by this instance's campaigns, `at` from `scheduler` (the clock
   * of leadership validity). `elected` comes just before the campaign's `isLeader: true`, `lost`
   * (a `SessionExpiredError`: validity ran out, with the last renewal's error as `cause`, or the
   * key was gone at a renewal) just before its `isLeader: false`; `resigned` during the
   * unsubscribe, before the resignation reaches Redis.
   */
  readonly events$: Observable<ElectionEvent>;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly scheduler: SchedulerLike;
  private readonly runner: ScriptRunner;
  private readonly commandTimeoutMs: number;
  private readonly channels: ElectionChannels;

  constructor(redis: Redis | Cluster, config?: RedisElectionConfig) {
    if (!isRedisClient(redis))
      throw new TypeError('redis must be an ioredis Redis or Cluster client');
    const options = validateOptions('config', config, CONFIG_KEYS);
    this.prefix = options.prefix ?? 'election:';
    if (typeof this.prefix !== 'string')
      throw new TypeError(`prefix must be a string, got ${typeof this.prefix}`);
    this.ttlMs = validateMs('ttlMs', options.ttlMs ?? 10_000, MIN_TTL_MS);
    this.scheduler = resolveScheduler(options.scheduler);
    this.commandTimeoutMs = commandTimeout(options);
    this.runner = new ScriptRunner(redis, ELECTION_SCRIPTS, this.commandTimeoutMs, this.scheduler);
    this.channels = new ElectionChannels(redis);
    this.#events = new EventStream<ElectionEvent>(this.scheduler);
    this.events$ = this.#events.events$;
  }

  campaign(name: string, candidate: string, options?: CampaignOptions): Observable<Candidacy> {
    validateNonEmptyString('name', name);
    validateElectionName(name);
    if (typeof candidate !== 'string')
      throw new TypeError(`candidate must be a string, got ${typeof candidate}`);
    const { ttlMs = this.ttlMs } = validateOptions('options', options, CAMPAIGN_KEYS);
    const context = {
      runner: this.runner,
      channels: this.channels,
      scheduler: this.scheduler,
      keys: electionKeys(this.prefix, name),
      candidate,
      ttlMs: validateMs('ttlMs', ttlMs, MIN_TTL_MS),
      events: new TermEvents(this.#events, name, candidate),
      candidacy: (token: string, isLeader: boolean, term: bigint) =>
        this.candidacy(context.keys, token, isLeader, term),
      resign: (token: string) => this.resign(context.keys, token),
    };
    return new Observable<Candidacy>((subscriber) => subscribeCampaign(context, subscriber));
  }

  observe(name: string): Observable<Leader | null> {
    validateNonEmptyString('name', name);
    validateElectionName(name);
    const context = {
      runner: this.runner,
      channels: this.channels,
      scheduler: this.scheduler,
      keys: electionKeys(this.prefix, name),
      ttlMs: this.ttlMs,
      commandTimeoutMs: this.commandTimeoutMs,
    };
    return new Observable<Leader | null>((subscriber) => subscribeObserve(context, subscriber));
  }

  private candidacy(keys: ElectionKeys, token: string, isLeader: boolean, term: bigint): Candidacy {
    return {
      isLeader,
      term,
      id: token,
      proclaim: async (value: string) => {
        if (typeof value !== 'string')
          throw new TypeError(`value must be a string, got ${typeof value}`);
        const args = [token, String(term), value, keys.channel];
        const ok = isLeader && (await this.runner.run(PROCLAIM, [keys.leader], args)) === 1;
        if (!ok) throw new NotLeaderError(`campaign ${token} does not lead term ${term}`);
      },
    };
  }

  /** Compare-and-delete of the leader key; best effort (it expires anyway). */
  private resign(keys: ElectionKeys, token: string): void {
    this.runner.run(RESIGN, [keys.leader], [token, keys.channel]).catch(() => undefined);
  }
}
