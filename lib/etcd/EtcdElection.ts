import type { IKeyValue, IRangeResponse, IWatchResponse, Namespace, Watcher } from 'etcd3';
import { Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type {
  CampaignOptions,
  Candidacy,
  ElectionBackend,
  Leader,
} from '../election/ElectionBackend.js';
import { isAbortedError, isBackendRejectedError, NotLeaderError } from '../errors.js';
import { resolveScheduler, scheduleOnce } from '../internal/scheduler.js';
import { validateInteger, validateNonEmptyString, validateObject } from '../internal/validate.js';
import { DEFAULT_CALL_TIMEOUT_MS, readAtOrLatest, toEtcdError, unaryDeadline } from './etcdCall.js';
import { EtcdSession } from './EtcdSession.js';
import { registeredAt, waitDelete } from './waitDelete.js';

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

const toLeader = (kv: IKeyValue | undefined): Leader | null =>
  kv === undefined
    ? null
    : { id: kv.key.toString(), value: kv.value.toString(), term: BigInt(kv.create_revision) };

const sameLeader = (a: Leader | null, b: Leader | null) =>
  a === b ||
  (a !== null && b !== null && a.id === b.id && a.term === b.term && a.value === b.value);

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
  private readonly prefix: string;
  private readonly ttlSeconds: number;
  private readonly callTimeoutMs: number;
  private readonly scheduler: SchedulerLike;

  constructor(
    private readonly client: Namespace,
    config?: EtcdElectionConfig,
  ) {
    if (typeof client !== 'object' || client === null || typeof client.watch !== 'function')
      throw new TypeError('client must be an etcd3 Etcd3 or Namespace');
    const options = validateObject('config', config);
    this.prefix = options.prefix ?? '';
    if (typeof this.prefix !== 'string')
      throw new TypeError(`prefix must be a string, got ${typeof this.prefix}`);
    this.ttlSeconds = validateInteger('ttlSeconds', options.ttlSeconds ?? 10, 1);
    this.callTimeoutMs = validateInteger(
      'callTimeoutMs',
      options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      1,
    );
    this.scheduler = resolveScheduler(options.scheduler);
  }

  campaign(name: string, candidate: string, options?: CampaignOptions): Observable<Candidacy> {
    validateNonEmptyString('name', name);
    if (typeof candidate !== 'string')
      throw new TypeError(`candidate must be a string, got ${typeof candidate}`);
    const { ttlMs } = validateObject('options', options);
    const ttlSeconds =
      ttlMs === undefined ? this.ttlSeconds : Math.ceil(validateInteger('ttlMs', ttlMs, 1) / 1000);
    const pfx = `${this.prefix}${name}/`;
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
      const lose = () => {
        if (!leading) return;
        leading = false;
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
        const lost = s.lost$.subscribe({ error: () => (lose(), roundOver.abort()) });
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
            const res = await this.readPrefix(pfx, deletedAt);
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
          emit();
          // Lead until our key is deleted (resign elsewhere, operator) or the lease is lost.
          await waitDelete(this.client, key, {
            fromRevision: (BigInt(myRev) + 1n).toString(),
            createRevision: myRev,
            callTimeoutMs: this.callTimeoutMs,
            signal: roundOver.signal,
          }).catch((e: unknown) => {
            if (!isAbortedError(e)) throw e;
          });
          lose();
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
        void session?.close().catch(() => undefined);
      };
    });
  }

  observe(name: string): Observable<Leader | null> {
    validateNonEmptyString('name', name);
    const pfx = `${this.prefix}${name}/`;
    return new Observable<Leader | null>((subscriber) => {
      let closed = false;
      let emitted: Leader | null | undefined;
      /** Revision of the state last emitted: older answers are dropped, never emitted. */
      let shownRevision = -1n;
      let reading = false;
      let pending: { revision: string | undefined } | undefined;
      let failures = 0;
      let retry: Subscription | undefined;

      /** Reads the leader at `revision` (an event's) or, without one, at the latest revision. */
      const read = (revision?: string) => {
        if (closed) return;
        if (reading) {
          // One read follows the current one, at the newest revision asked for.
          const newer =
            pending === undefined ||
            (pending.revision !== undefined &&
              (revision === undefined || BigInt(revision) > BigInt(pending.revision)));
          if (newer) pending = { revision };
          return;
        }
        reading = true;
        this.readPrefix(pfx, revision, 1).then(
          (res) => {
            reading = false;
            failures = 0;
            if (closed) return;
            const at = BigInt(revision ?? res.header.revision);
            const leader = toLeader(res.kvs[0]);
            if (at >= shownRevision) {
              shownRevision = at;
              if (emitted === undefined || !sameLeader(emitted, leader)) {
                emitted = leader;
                subscriber.next(leader);
              }
            }
            const next = pending;
            pending = undefined;
            if (next !== undefined) read(next.revision);
          },
          () => {
            reading = false;
            pending = undefined;
            if (closed) return;
            retry = scheduleOnce(this.scheduler, this.retryDelay(++failures), () => read());
          },
        );
      };
      /** Every event batch: read the leader at the batch's last revision, unless already shown. */
      const onWatchResponse = (res: IWatchResponse) => {
        let last = -1n;
        for (const e of res.events) {
          const revision = BigInt(e.kv.mod_revision);
          if (revision > last) last = revision;
        }
        if (last > shownRevision) read(last.toString());
      };
      /**
       * The open watchers: a second one when the first is not proven live, since etcd can
       * register a watch behind its store (see `registeredAt`). Both watchers' events are read
       * alike; a revision already shown is not read again.
       */
      const watchers: Watcher[] = [];
      const stopWatching = () => {
        for (const w of watchers.splice(0)) void w.cancel().catch(() => undefined);
      };
      const restartWatch = () => {
        stopWatching();
        if (!closed)
          retry = scheduleOnce(this.scheduler, this.retryDelay(++failures), () => startWatch());
      };
      const startWatch = (extra = false) => {
        this.client
          .watch()
          .prefix(pfx)
          .create()
          .then(
            (w) => {
              if (closed) return void w.cancel().catch(() => undefined);
              watchers.push(w);
              w.on('data', onWatchResponse);
              w.on('connected', () => read()); // also after the stream moved to another member
              w.on('error', () => {
                if (watchers.includes(w)) restartWatch();
              });
              if (extra) return;
              const registered = registeredAt(w);
              read(); // watch first, then read: no change falls between the two
              this.provesLive(pfx, registered).then(
                (live) => {
                  if (!live && !closed && watchers.includes(w)) startWatch(true);
                },
                () => undefined, // the first watcher stays; it is at most 100 ms late
              );
            },
            () => {
              if (!extra) restartWatch();
            },
          );
      };
      startWatch();
      return () => {
        closed = true;
        retry?.unsubscribe();
        stopWatching();
      };
    });
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

  /** True if etcd answers a read at `registered`: nothing was written since a watch was registered. */
  private async provesLive(pfx: string, registered: bigint): Promise<boolean> {
    // Through the builder, so a namespaced client reads its own key space.
    const res = await this.client.get(pfx).options(unaryDeadline(this.callTimeoutMs)).exec();
    return BigInt(res.header.revision) === registered;
  }

  /**
   * The election's keys, oldest (the leader) first; `limit` 1 for just the leader. With
   * `atRevision` (a watch event's revision) it reads that exact revision, see `readAtOrLatest`.
   */
  private async readPrefix(pfx: string, atRevision?: string, limit = 0): Promise<IRangeResponse> {
    try {
      return await readAtOrLatest(atRevision, (revision) => {
        const range = this.client
          .getAll()
          .prefix(pfx)
          .sort('Create', 'Ascend')
          .limit(limit)
          .options(unaryDeadline(this.callTimeoutMs));
        return (
          revision === undefined ? range : range.revision(revision).serializable(true)
        ).exec();
      });
    } catch (e) {
      throw toEtcdError(e, 'range');
    }
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
