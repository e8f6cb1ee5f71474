/**
 * `EtcdElection.observe` and the reads it shares with campaigns. Internal: not part of the
 * public entry.
 */
import type { IKeyValue, IRangeResponse, IWatchResponse, Namespace, Watcher } from 'etcd3';
import { Observable, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import type { Leader } from '../election/ElectionBackend.js';
import { BackendUnavailableError } from '../errors.js';
import { scheduleOnce } from '../internal/scheduler.js';
import { readAtOrLatest, toEtcdError, unaryDeadline } from './etcdCall.js';
import { registeredAt } from './waitDelete.js';

/** What observing needs from its election. */
export interface ObserveContext {
  client: Namespace;
  callTimeoutMs: number;
  scheduler: SchedulerLike;
  /** Delay before retry number `failures` (1-based). */
  retryDelay(failures: number): number;
}

const toLeader = (kv: IKeyValue | undefined): Leader | null =>
  kv === undefined
    ? null
    : { id: kv.key.toString(), value: kv.value.toString(), term: BigInt(kv.create_revision) };

const sameLeader = (a: Leader | null, b: Leader | null) =>
  a === b ||
  (a !== null && b !== null && a.id === b.id && a.term === b.term && a.value === b.value);

/**
 * The election's keys, oldest (the leader) first; `limit` 1 for just the leader. With
 * `atRevision` (a watch event's revision) it reads that exact revision, see `readAtOrLatest`.
 */
export async function readPrefix(
  client: Namespace,
  callTimeoutMs: number,
  pfx: string,
  atRevision?: string,
  limit = 0,
): Promise<IRangeResponse> {
  try {
    return await readAtOrLatest(atRevision, (revision) => {
      const range = client
        .getAll()
        .prefix(pfx)
        .sort('Create', 'Ascend')
        .limit(limit)
        .options(unaryDeadline(callTimeoutMs));
      return (revision === undefined ? range : range.revision(revision).serializable(true)).exec();
    });
  } catch (e) {
    throw toEtcdError(e, 'range');
  }
}

/** True if etcd answers a read at `registered`: nothing was written since a watch was registered. */
async function provesLive(ctx: ObserveContext, pfx: string, registered: bigint): Promise<boolean> {
  // Through the builder, so a namespaced client reads its own key space.
  const res = await ctx.client.get(pfx).options(unaryDeadline(ctx.callTimeoutMs)).exec();
  return BigInt(res.header.revision) === registered;
}

/**
 * The current leader of the election under `pfx`, then every change. It errors with
 * `BackendUnavailableError` when etcd gives no first answer within `callTimeoutMs` (a new
 * observer on a down etcd would otherwise wait in silence); once it has answered, a failed
 * read or broken watch is retried with backoff and the last leader shown stands meanwhile.
 */
export function observeLeader(ctx: ObserveContext, pfx: string): Observable<Leader | null> {
  return new Observable<Leader | null>((subscriber) => {
    const observer = new LeaderObserver(ctx, pfx, subscriber);
    observer.start();
    return () => observer.stop();
  });
}

class LeaderObserver {
  private closed = false;
  private emitted: Leader | null | undefined;
  /** Revision of the state last emitted: older answers are dropped, never emitted. */
  private shownRevision = -1n;
  private reading = false;
  private pending: { revision: string | undefined } | undefined;
  private failures = 0;
  private retry: Subscription | undefined;
  private firstAnswer: Subscription | undefined;
  /**
   * The open watchers: a second one when the first is not proven live, since etcd can register a
   * watch behind its store (see `registeredAt`). Both watchers' events are read alike.
   */
  private readonly watchers: Watcher[] = [];

  constructor(
    private readonly ctx: ObserveContext,
    private readonly pfx: string,
    private readonly subscriber: Subscriber<Leader | null>,
  ) {}

  start(): void {
    this.firstAnswer = scheduleOnce(this.ctx.scheduler, this.ctx.callTimeoutMs, () =>
      this.fail(
        new BackendUnavailableError(
          'etcd',
          `etcd observe of "${this.pfx}": no answer within ${this.ctx.callTimeoutMs} ms`,
        ),
      ),
    );
    this.startWatch();
  }

  stop(): void {
    this.closed = true;
    this.firstAnswer?.unsubscribe();
    this.retry?.unsubscribe();
    this.stopWatching();
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.stop();
    this.subscriber.error(error);
  }

  /** Reads the leader at `revision` (an event's) or, without one, at the latest revision. */
  private read(revision?: string): void {
    if (this.closed) return;
    if (this.reading) {
      // One read follows the current one, at the newest revision asked for.
      const p = this.pending;
      const newer =
        p === undefined ||
        (p.revision !== undefined &&
          (revision === undefined || BigInt(revision) > BigInt(p.revision)));
      if (newer) this.pending = { revision };
      return;
    }
    this.reading = true;
    readPrefix(this.ctx.client, this.ctx.callTimeoutMs, this.pfx, revision, 1).then(
      (res) => this.answered(res, revision),
      (e: unknown) => {
        this.reading = false;
        this.pending = undefined;
        if (this.closed) return;
        if (this.emitted === undefined) return this.fail(e as Error);
        this.retry = scheduleOnce(this.ctx.scheduler, this.ctx.retryDelay(++this.failures), () =>
          this.read(),
        );
      },
    );
  }

  private answered(res: IRangeResponse, revision: string | undefined): void {
    this.reading = false;
    this.failures = 0;
    if (this.closed) return;
    this.firstAnswer?.unsubscribe();
    const at = BigInt(revision ?? res.header.revision);
    const leader = toLeader(res.kvs[0]);
    if (at >= this.shownRevision) {
      this.shownRevision = at;
      if (this.emitted === undefined || !sameLeader(this.emitted, leader)) {
        this.emitted = leader;
        this.subscriber.next(leader);
      }
    }
    const next = this.pending;
    this.pending = undefined;
    if (next !== undefined) this.read(next.revision);
  }

  /** Every event batch: read the leader at the batch's last revision, unless already shown. */
  private readonly onWatchResponse = (res: IWatchResponse): void => {
    let last = -1n;
    for (const e of res.events) {
      const revision = BigInt(e.kv.mod_revision);
      if (revision > last) last = revision;
    }
    if (last > this.shownRevision) this.read(last.toString());
  };

  private stopWatching(): void {
    for (const w of this.watchers.splice(0)) void w.cancel().catch(() => undefined);
  }

  private restartWatch(): void {
    this.stopWatching();
    if (this.closed) return;
    this.retry = scheduleOnce(this.ctx.scheduler, this.ctx.retryDelay(++this.failures), () =>
      this.startWatch(),
    );
  }

  private startWatch(extra = false): void {
    this.ctx.client
      .watch()
      .prefix(this.pfx)
      .create()
      .then(
        (w) => this.watching(w, extra),
        () => {
          if (!extra) this.restartWatch();
        },
      );
  }

  private watching(w: Watcher, extra: boolean): void {
    if (this.closed) return void w.cancel().catch(() => undefined);
    this.watchers.push(w);
    w.on('data', this.onWatchResponse);
    w.on('connected', () => this.read()); // also after the stream moved to another member
    w.on('error', () => {
      if (this.watchers.includes(w)) this.restartWatch();
    });
    if (extra) return;
    const registered = registeredAt(w);
    this.read(); // watch first, then read: no change falls between the two
    provesLive(this.ctx, this.pfx, registered).then(
      (live) => {
        if (!live && !this.closed && this.watchers.includes(w)) this.startWatch(true);
      },
      () => undefined, // the first watcher stays; it is at most 100 ms late
    );
  }
}
