import type { Namespace } from 'etcd3';
import { Observable, type SchedulerLike } from 'rxjs';
import type {
  CampaignOptions,
  Candidacy,
  ElectionBackend,
  ElectionEvent,
  Leader,
} from '../election/ElectionBackend.js';
import { TermEvents } from '../election/internal/TermEvents.js';
import {
  isAbortedError,
  isBackendRejectedError,
  NotLeaderError,
  SessionExpiredError,
} from '../errors.js';
import { EventStream } from '../internal/EventStream.js';
import { scheduleOnce } from '../internal/scheduler.js';
import { validateMs, validateNonEmptyString, validateOptions } from '../internal/validate.js';
import { resolveEtcdSettings, toEtcdError, unaryDeadline } from './etcdCall.js';
import { EtcdSession } from './EtcdSession.js';
import { observeLeader, readPrefix } from './etcdObserve.js';
import { waitDelete } from './waitDelete.js';

/** Options of {@link EtcdElection}. */
export interface EtcdElectionConfig {
  /** Prepended to the election name; keys are `<prefix><name>/<lease id hex>`. Default `''`. */
  prefix?: string;
  /** Lease TTL of each campaign (whole seconds) unless the campaign passes `ttlMs`. Default 10. */
  ttlSeconds?: number;
  /** Deadline of every unary call (grant, txn, range, revoke) in ms; streams have none. Default 5000. */
  callTimeoutMs?: number;
  /** Clock and timers (keepalive, expiry check, retry delays). Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/** Delays before retrying after etcd failed a call: short first, so a dead member costs little. */
const RETRY_DELAYS_MS = [50, 100, 200, 400, 800, 1000];

/** Thrown inside a campaign round when its lease or key is gone: start a new round. */
class RoundOver extends Error {}

/**
 * Leader election on etcd with the layout of etcd's Go `concurrency.Election` (so it
 * interoperates with `etcdctl elect <name> <value>` and `etcdctl elect -l <name>`): each
 * candidate puts `<prefix><name>/<lease id hex>` = its value under its own lease (an
 * {@link EtcdSession}); the key with the lowest create revision leads and that revision is the
 * term; a waiter watches only its predecessor's deletion, so a hand-over costs one watch event
 * and one range read.
 *
 * `observe` never trusts event order: after every watch event it re-reads the prefix sorted by
 * create revision (limit 1), at that event's revision or later, so a batch of events never names
 * the wrong leader and "no leader" is reported as `null`. A campaign reports `isLeader: false`
 * as soon as its session is lost (no keepalive confirmed within the TTL less the drift
 * allowance, counted from its SEND time: {@link EtcdSession}'s rule) or its key is deleted, then campaigns again with a new lease and a higher term.
 *
 * Build the client with a short `dialTimeout` and several `hosts` for fast failover; unary calls
 * get `callTimeoutMs` deadlines, watch and keepalive streams none.
 *
 * ```
 * campaign (A):  t-------------|          A resigns: its lease is revoked, its key deleted
 * campaign (B):  f-------------t----      B watched A's key: one event, one read
 * observe:       A-------------B----
 * ```
 *
 * @example
 * const client = new Etcd3({ hosts: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'], dialTimeout: 1000 });
 * const election = new EtcdElection(client, { ttlSeconds: 5 });
 * election.campaign('scheduler', os.hostname()).pipe(whileLeader((term) => schedule(term))).subscribe();
 * leaderChanges(election, 'scheduler').subscribe((l) => console.log('leader', l?.value ?? 'none'));
 */
export class EtcdElection implements ElectionBackend {
  readonly #events: EventStream<ElectionEvent>;
  /**
   * Terms won, resigned and lost by this instance's campaigns, `at` from `scheduler` (the clock
   * of lease validity). `elected` comes just before the campaign's `isLeader: true`, `lost` just
   * before its `isLeader: false` (error: the session's `SessionExpiredError` when the lease was
   * lost, a `SessionExpiredError` when the key was deleted, the watch's error when it failed);
   * `resigned` during the unsubscribe, before the lease is revoked.
   */
  readonly events$: Observable<ElectionEvent>;
  private readonly prefix: string;
  private readonly ttlSeconds: number;
  private readonly callTimeoutMs: number;
  private readonly scheduler: SchedulerLike;

  constructor(
    private readonly client: Namespace,
    config?: EtcdElectionConfig,
  ) {
    const settings = resolveEtcdSettings(client, config, 10);
    this.prefix = settings.prefix;
    this.ttlSeconds = settings.ttlSeconds;
    this.callTimeoutMs = settings.callTimeoutMs;
    this.scheduler = settings.scheduler;
    this.#events = new EventStream<ElectionEvent>(this.scheduler);
    this.events$ = this.#events.events$;
  }

  campaign(name: string, candidate: string, options?: CampaignOptions): Observable<Candidacy> {
    validateNonEmptyString('name', name);
    if (typeof candidate !== 'string')
      throw new TypeError(`candidate must be a string, got ${typeof candidate}`);
    const { ttlMs } = validateOptions('options', options, ['ttlMs']);
    const ttlSeconds =
      ttlMs === undefined ? this.ttlSeconds : Math.ceil(validateMs('ttlMs', ttlMs, 1) / 1000);
    const pfx = `${this.prefix}${name}/`;
    const events = new TermEvents(this.#events, name, candidate);
    return new Observable<Candidacy>((subscriber) => {
      const stop = new AbortController();
      let emitted: { isLeader: boolean; term: bigint } | undefined;
      let leading = false;
      let term = 0n;
      let session: EtcdSession | undefined;
      let key = '';

      const emit = () => {
        if (stop.signal.aborted || (emitted?.isLeader === leading && emitted.term === term)) return;
        emitted = { isLeader: leading, term };
        subscriber.next(this.candidacy(key, leading, term, session));
      };
      const lose = (why?: () => unknown) => {
        if (!leading) return;
        leading = false;
        events.lost(term, why);
        emit();
      };

      /** One lease: join, wait for the predecessors, lead until the lease or key is gone. */
      const round = async (): Promise<void> => {
        const s = await EtcdSession.create(this.client, {
          ttlSeconds,
          callTimeoutMs: this.callTimeoutMs,
          scheduler: this.scheduler,
        });
        session = s;
        if (stop.signal.aborted) return void s.close().catch(() => undefined);
        const roundOver = new AbortController();
        const onStop = () => roundOver.abort();
        stop.signal.addEventListener('abort', onStop);
        // Lease loss is judged by the session alone (LeaseValidity): report it at once.
        const lost = s.lost$.subscribe({ error: (e) => (lose(() => e), roundOver.abort()) });
        try {
          key = `${pfx}${s.leaseIdHex}`;
          const txn = await this.client
            .if(key, 'Create', '==', 0)
            .then(this.client.put(key).value(candidate).lease(s.leaseId))
            .else(this.client.get(key))
            .options(unaryDeadline(this.callTimeoutMs))
            .commit()
            .catch((e: unknown) => {
              throw toEtcdError(e, 'campaign txn');
            });
          const myRev = txn.succeeded
            ? txn.header.revision
            : txn.responses[0].response_range.kvs[0].create_revision;
          let deletedAt: string | undefined;
          for (;;) {
            const res = await readPrefix(this.client, this.callTimeoutMs, pfx, deletedAt);
            const mine = res.kvs.findIndex((kv) => kv.key.toString() === key);
            if (mine < 0 || res.kvs[mine].create_revision !== myRev) throw new RoundOver();
            if (mine === 0) break;
            emit();
            const predecessor = res.kvs[mine - 1].key.toString();
            // The read shows revision `deletedAt` (or the header's), so watch from the next one.
            const next = (BigInt(deletedAt ?? res.header.revision) + 1n).toString();
            deletedAt = await waitDelete(this.client, predecessor, {
              fromRevision: next,
              createRevision: res.kvs[mine - 1].create_revision,
              callTimeoutMs: this.callTimeoutMs,
              signal: roundOver.signal,
            });
          }
          // `state` reads the clock (LeaseValidity), even if the expiry timer has not run yet.
          if (s.state !== 'alive' || roundOver.signal.aborted) throw new RoundOver();
          leading = true;
          term = BigInt(myRev);
          events.elected(term);
          emit();
          // Lead until our key is deleted (resign elsewhere, operator) or the lease is lost.
          await waitDelete(this.client, key, {
            fromRevision: (BigInt(myRev) + 1n).toString(),
            createRevision: myRev,
            callTimeoutMs: this.callTimeoutMs,
            signal: roundOver.signal,
          }).then(
            () => lose(() => new SessionExpiredError(`etcd leader key ${key} was deleted`)),
            (e: unknown) => {
              if (isAbortedError(e)) return; // lost (reported) or resigned (the teardown's)
              lose(() => e);
              throw e;
            },
          );
        } finally {
          lost.unsubscribe();
          stop.signal.removeEventListener('abort', onStop);
          lose();
          await s.close().catch(() => undefined);
        }
      };

      const run = async () => {
        let failures = 0;
        while (!stop.signal.aborted) {
          try {
            await round();
            failures = 0;
          } catch (e) {
            if (stop.signal.aborted) return;
            // etcd refused the request itself (a value over its size limit): retrying cannot help.
            if (isBackendRejectedError(e)) return subscriber.error(e);
            emit();
            // A lost lease or key starts a new round at once; etcd failures back off.
            if (!(e instanceof RoundOver) && !isAbortedError(e))
              await this.sleep(this.retryDelay(++failures), stop.signal);
          }
        }
      };
      void run();
      return () => {
        stop.abort(); // the round's finally revokes the lease: etcd deletes the key
        // Reads the clock: a lease that ran out meanwhile is reported lost (lost$), not resigned.
        if (leading && session?.state === 'alive') {
          leading = false;
          events.resigned(term);
        }
        void session?.close().catch(() => undefined);
      };
    });
  }

  observe(name: string): Observable<Leader | null> {
    validateNonEmptyString('name', name);
    const context = {
      client: this.client,
      callTimeoutMs: this.callTimeoutMs,
      scheduler: this.scheduler,
      retryDelay: (failures: number) => this.retryDelay(failures),
    };
    return observeLeader(context, `${this.prefix}${name}/`);
  }

  private candidacy(
    key: string,
    isLeader: boolean,
    term: bigint,
    session: EtcdSession | undefined,
  ): Candidacy {
    return {
      isLeader,
      term,
      id: key,
      proclaim: async (value: string) => {
        const notLeader = () => new NotLeaderError(`"${key}" does not lead term ${term}`);
        if (!isLeader || session?.state !== 'alive') throw notLeader();
        let ok: boolean;
        try {
          const res = await this.client
            .if(key, 'Create', '==', term.toString())
            .then(this.client.put(key).value(value).lease(session.leaseId))
            .options(unaryDeadline(this.callTimeoutMs))
            .commit();
          ok = res.succeeded;
        } catch (e) {
          throw toEtcdError(e, 'proclaim');
        }
        if (!ok) throw notLeader();
      },
    };
  }

  private retryDelay(failures: number): number {
    return RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length) - 1];
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = scheduleOnce(this.scheduler, ms, done);
      signal.addEventListener('abort', done);
      function done() {
        timer.unsubscribe();
        signal.removeEventListener('abort', done);
        resolve();
      }
    });
  }
}
