import type { Etcd3, IKeyValue, IRangeRequest } from 'etcd3';
import { Subscription, type SchedulerLike } from 'rxjs';
import {
  AbortedError,
  isSessionExpiredError,
  LockLostError,
  LockTimeoutError,
  SessionExpiredError,
} from '../errors.js';
import { scheduleOnce } from '../internal/scheduler.js';
import { validateMs, validateOptions } from '../internal/validate.js';
import { LeaseEnd } from '../lock/LeaseEnd.js';
import {
  resolveAcquireOptions,
  type AcquireOptions,
  type LockBackend,
  type LockLease,
} from '../lock/LockBackend.js';
import { MemoryLocks } from '../lock/MemoryLocks.js';
import {
  isLeaseNotFound,
  readAtOrLatest,
  resolveEtcdSettings,
  toEtcdError,
  unaryDeadline,
} from './etcdCall.js';
import { isClientClosed, onClientClose } from './clientClosed.js';
import { EtcdSession } from './EtcdSession.js';
import { waitDelete } from './waitDelete.js';

/** Options of {@link EtcdLocks}. */
export interface EtcdLocksConfig {
  /** Prepended to every lock key: lock `k` lives under `<prefix>k/`. Default `''`, as `etcdctl lock k`. */
  prefix?: string;
  /** TTL of the session lease in whole seconds. Default 60, as etcd's Go client and etcdctl. */
  ttlSeconds?: number;
  /** Deadline of each unary etcd call (txn, range, delete, grant, revoke) in ms. Default 5000. */
  callTimeoutMs?: number;
  /** Clock and timers. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** The key under `pfx` with the lowest (first) or highest (last, below `maxCreate`) create revision. */
function rangeByCreate(
  pfx: string,
  order: 'Ascend' | 'Descend',
  maxCreate?: bigint,
): IRangeRequest {
  const key = Buffer.from(pfx);
  return {
    key,
    range_end: prefixEnd(key),
    sort_target: 'Create',
    sort_order: order,
    limit: 1,
    ...(maxCreate === undefined ? {} : { max_create_revision: maxCreate.toString() }),
  };
}

class EtcdLease implements LockLease {
  private readonly end = new LeaseEnd();
  readonly lost$ = this.end.lost$;
  readonly ttlMs: number;
  // Created first: lost$ may error synchronously (session already expired) inside subscribe.
  private readonly sessionSub = new Subscription();
  private releasing: Promise<void> | undefined;

  constructor(
    private readonly locks: EtcdLocks,
    readonly key: string,
    /** The etcd key: `<prefix><key>/<lease id hex>`. */
    readonly etcdKey: string,
    readonly fence: bigint,
    private readonly session: EtcdSession,
    private readonly freeLocal: () => void,
  ) {
    this.ttlMs = session.ttlSeconds * 1000;
    this.sessionSub.add(
      session.lost$.subscribe({
        error: (e: unknown) => this.lose('session expired', e),
        complete: () => this.lose('session closed (its lease was revoked)'),
      }),
    );
  }

  /**
   * Sends a session keepalive and checks that our key is still there (etcd does not tell a
   * holder when its key is deleted; `lock$` calls this every TTL/3, so a deletion behind our
   * back is noticed within that).
   */
  async extend(): Promise<void> {
    // Reading the session's state applies the lease rule now: a run-out lease is lost here.
    if (this.session.state !== 'alive' || !this.end.held) throw this.endedError();
    const [alive, present] = await Promise.allSettled([
      this.session.keepAliveOnce(),
      this.locks.ownKeyPresent(this.etcdKey, this.fence),
    ]);
    if (alive.status === 'rejected' && isSessionExpiredError(alive.reason)) {
      this.lose('session expired', alive.reason);
    } else if (present.status === 'fulfilled' && !present.value) {
      this.lose('its key was deleted');
    }
    if (!this.end.held) throw this.endedError();
    if (alive.status === 'rejected') throw alive.reason as Error;
    if (present.status === 'rejected') throw present.reason as Error;
  }

  release(): Promise<void> {
    this.releasing ??= this.doRelease();
    return this.releasing;
  }

  private async doRelease(): Promise<void> {
    if (this.end.lost) throw this.endedError();
    // Delete only the key this lease created (Go's Unlock deletes by key; the create-revision
    // guard also keeps a later incarnation of the key safe).
    const deleted = await this.locks.deleteOwn(this.etcdKey, this.fence).catch((e: unknown) => {
      this.finish();
      throw e;
    });
    if (!deleted) {
      this.lose('its key was already gone');
      throw this.endedError();
    }
    this.finish();
  }

  private finish(): void {
    if (this.end.release()) this.cleanup();
  }

  private lose(reason: string, cause?: unknown): void {
    const error = new LockLostError(this.key, `lock "${this.key}" was lost: ${reason}`, { cause });
    if (this.end.lose(error)) this.cleanup();
  }

  private cleanup(): void {
    this.sessionSub.unsubscribe();
    this.freeLocal();
  }

  private endedError(): Error {
    return this.end.lostError ?? new LockLostError(this.key, `lock "${this.key}" was released`);
  }
}

/**
 * Distributed locks on etcd with the exact layout of etcd's Go `concurrency.Mutex`, so they
 * interoperate with `etcdctl lock <name>` and Go programs: each contender puts
 * `<prefix><key>/<session lease id in hex>` with its session lease; the owner is the key with the
 * lowest create revision; each waiter watches only the key just before its own (no herd) and,
 * once woken, checks its own key still exists (else `SessionExpiredError`). The fence is the
 * lock key's create revision.
 *
 * One {@link EtcdSession} (one lease, kept alive) is shared by all locks of an instance, so an
 * uncontended acquire is one txn and a release one delete. Locks of one instance on the same
 * key queue locally first (FIFO), because they share the lease and hence the etcd key.
 * `ttlMs` of acquire options is ignored: the session's `ttlSeconds` applies, and a lease is lost
 * when the session is (no keepalive confirmed within the TTL less the drift allowance, counted
 * from when it was sent: {@link EtcdSession}'s rule)
 * or, noticed at the next `extend` (`lock$`: every TTL/3), when its key was deleted.
 *
 * Failover: unary calls carry a deadline (`callTimeoutMs`) and fail with
 * `BackendUnavailableError`; construct the etcd3 client with `dialTimeout` and with no deadline
 * on streams (watch, keepalive), e.g.
 * `new Etcd3({ hosts, dialTimeout: 2000, defaultCallOptions: (c) => c.isStream ? {} : { deadline: Date.now() + 5000 } })`.
 *
 * ```
 * A: put k/a (rev 10) held(fence 10)---delete
 * B: put k/b (rev 11) watch k/a.........(deleted) held(fence 11)
 * ```
 *
 * @example
 * const locks = new EtcdLocks(new Etcd3({ hosts, dialTimeout: 2000 }), { ttlSeconds: 10 });
 * const lease = await locks.acquire('nightly-report', { waitMs: 30_000 });
 * try { await run(lease.fence); } finally { await lease.release(); }
 * await locks.close(); // revokes the session lease
 */
export class EtcdLocks implements LockBackend {
  private readonly prefix: string;
  private readonly ttlSeconds: number;
  private readonly callTimeoutMs: number;
  private readonly scheduler: SchedulerLike;
  private readonly local: MemoryLocks;
  private sessionPromise: Promise<EtcdSession> | undefined;
  private closed = false;

  constructor(
    /** The etcd3 client. @internal */
    readonly client: Etcd3,
    config?: EtcdLocksConfig,
  ) {
    const settings = resolveEtcdSettings(client, config, 60);
    this.prefix = settings.prefix;
    this.ttlSeconds = settings.ttlSeconds;
    this.callTimeoutMs = settings.callTimeoutMs;
    this.scheduler = settings.scheduler;
    this.local = new MemoryLocks({ scheduler: this.scheduler });
    // The anchor's watch stream outlives Etcd3.close() and would keep the process alive.
    onClientClose(client, () => this.dropAnchor());
  }

  acquire(key: string, options?: AcquireOptions): Promise<LockLease> {
    // `ttlMs` stays allowed (the LockBackend contract; ignored here, see the class doc).
    validateOptions('options', options, ['ttlMs', 'waitMs', 'signal']);
    const { waitMs, signal } = resolveAcquireOptions(key, options);
    // A wait longer than a JS timer can hold would time out at once.
    validateMs('waitMs', waitMs, 0, { allowInfinity: true });
    return this.acquireResolved(key, waitMs, signal);
  }

  /** The live session (created on first use, and again after a loss). */
  session(): Promise<EtcdSession> {
    if (this.closed) return Promise.reject(new SessionExpiredError('EtcdLocks is closed'));
    const current = this.sessionPromise;
    if (current) {
      return current.then((s) => {
        if (s.state === 'alive') return s;
        // Only the first caller to see the loss replaces the session; the others share it.
        return this.sessionPromise === current ? this.newSession() : this.session();
      });
    }
    return this.newSession();
  }

  /** Revokes the session lease: every lock of this instance is freed at once. */
  async close(): Promise<void> {
    this.closed = true;
    this.dropAnchor();
    const current = this.sessionPromise;
    this.sessionPromise = undefined;
    const session = await current?.catch(() => undefined);
    await session?.close();
  }

  /** Compare-and-delete on the create revision. Resolves false if the key was not ours. @internal */
  async deleteOwn(etcdKey: string, createRevision: bigint): Promise<boolean> {
    const key = Buffer.from(etcdKey);
    try {
      const res = await this.client.kv.txn(
        {
          compare: [
            { key, target: 'Create', result: 'Equal', create_revision: createRevision.toString() },
          ],
          success: [{ request_delete_range: { key } }],
          failure: [],
        },
        unaryDeadline(this.callTimeoutMs),
      );
      return res.succeeded;
    } catch (e) {
      throw toEtcdError(e, 'delete');
    }
  }

  /** True if `etcdKey` exists with this create revision. @internal */
  async ownKeyPresent(etcdKey: string, createRevision: bigint): Promise<boolean> {
    const res = await this.txnCall('range', () =>
      this.client.kv.range({ key: Buffer.from(etcdKey) }, unaryDeadline(this.callTimeoutMs)),
    );
    return res.kvs.length > 0 && BigInt(res.kvs[0].create_revision) === createRevision;
  }

  private newSession(): Promise<EtcdSession> {
    const created = EtcdSession.create(this.client, {
      ttlSeconds: this.ttlSeconds,
      callTimeoutMs: this.callTimeoutMs,
      scheduler: this.scheduler,
    });
    this.sessionPromise = created;
    created.catch(() => {
      if (this.sessionPromise === created) this.sessionPromise = undefined;
    });
    return created;
  }

  private async acquireResolved(
    key: string,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<LockLease> {
    const startedAt = this.scheduler.now();
    const localLease = await this.local.acquire(key, {
      ttlMs: Number.POSITIVE_INFINITY,
      waitMs,
      signal,
    });
    const freeLocal = () => void localLease.release().catch(() => undefined);
    try {
      const remaining =
        waitMs === Number.POSITIVE_INFINITY
          ? waitMs
          : Math.max(0, waitMs - (this.scheduler.now() - startedAt));
      return await this.acquireRemote(key, remaining, waitMs, signal, freeLocal);
    } catch (e) {
      freeLocal();
      throw e;
    }
  }

  private async txnCall<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw toEtcdError(e, what);
    }
  }

  private async acquireRemote(
    key: string,
    remainingMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
    freeLocal: () => void,
    retried = false,
  ): Promise<LockLease> {
    if (signal?.aborted) throw new AbortedError(`acquire of lock "${key}" aborted`);
    const session = await this.session();
    const pfx = `${this.prefix}${key}/`;
    const etcdKey = pfx + session.leaseIdHex;
    const keyBuf = Buffer.from(etcdKey);
    const owner = rangeByCreate(pfx, 'Ascend');
    const res = await this.lockTxn(session, keyBuf, owner).catch(async (e: unknown) => {
      if (!isLeaseNotFound((e as { cause?: unknown }).cause ?? e) || retried) throw e;
      // The lease died before the session noticed: let it notice, then retry on a new session.
      await session.keepAliveOnce().catch(() => undefined);
      return undefined;
    });
    if (res === undefined) {
      return this.acquireRemote(key, remainingMs, waitMs, signal, freeLocal, true);
    }
    if (!res.succeeded && !retried) {
      // Our key is left over from an acquire or release whose delete never reached etcd (the
      // local queue means no live lease of ours uses it). Replace it, so the fence is fresh.
      const stale = BigInt(res.responses[0].response_range.kvs[0].create_revision);
      await this.deleteOwn(etcdKey, stale);
      return this.acquireRemote(key, remainingMs, waitMs, signal, freeLocal, true);
    }
    const myRev = BigInt(
      res.succeeded ? res.header.revision : res.responses[0].response_range.kvs[0].create_revision,
    );
    const first: IKeyValue | undefined = res.responses[1].response_range.kvs[0];
    const lease = () => {
      // The txn put our key with the lease, yet proves no more time on it: the session decides.
      if (session.state !== 'alive')
        throw new SessionExpiredError(`lock "${key}": session expired while acquiring`);
      return new EtcdLease(this, key, etcdKey, myRev, session, freeLocal);
    };
    if (first === undefined || BigInt(first.create_revision) === myRev) return lease();

    if (remainingMs === 0) {
      await this.deleteOwn(etcdKey, myRev).catch(() => undefined);
      throw new LockTimeoutError(key, waitMs);
    }
    const stop = new AbortController();
    let timedOut = false;
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort);
    const timer =
      remainingMs === Number.POSITIVE_INFINITY
        ? undefined
        : scheduleOnce(this.scheduler, remainingMs, () => {
            timedOut = true;
            stop.abort();
          });
    const sessionSub = session.lost$.subscribe({ error: () => stop.abort() });
    try {
      if (!(await this.waitDeletes(pfx, myRev, stop.signal))) {
        throw new SessionExpiredError(`lock "${key}": session expired while waiting`);
      }
      return lease();
    } catch (e) {
      await this.deleteOwn(etcdKey, myRev).catch(() => undefined);
      if (timedOut) throw new LockTimeoutError(key, waitMs);
      if (signal?.aborted) throw new AbortedError(`acquire of lock "${key}" aborted`);
      if (session.state === 'lost') {
        throw new SessionExpiredError(`lock "${key}": session expired while waiting`, { cause: e });
      }
      throw e;
    } finally {
      timer?.unsubscribe();
      sessionSub.unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Go's Mutex txn: put our key if absent (else read it), and read the current owner. */
  private lockTxn(session: EtcdSession, keyBuf: Buffer, owner: IRangeRequest) {
    return this.txnCall('lock txn', () =>
      this.client.kv.txn(
        {
          compare: [{ key: keyBuf, target: 'Create', result: 'Equal', create_revision: '0' }],
          success: [
            { request_put: { key: keyBuf, value: Buffer.alloc(0), lease: session.leaseId } },
            { request_range: owner },
          ],
          failure: [{ request_range: { key: keyBuf } }, { request_range: owner }],
        },
        unaryDeadline(this.callTimeoutMs),
      ),
    );
  }

  private anchor: Promise<{ cancel(): Promise<void> }> | undefined;

  private dropAnchor(): void {
    const anchor = this.anchor;
    this.anchor = undefined;
    void anchor?.then((w) => w.cancel()).catch(() => undefined);
  }

  /**
   * etcd3 closes its watch stream when the last watcher goes and reopens it for the next one
   * (about 2 ms, tens of ms in the tail), which would sit on the hand-off path of a waiter that
   * just re-queued. One idle watcher on a key nobody writes keeps the stream open until close().
   */
  private keepWatchStream(): void {
    if (this.anchor || this.closed || isClientClosed(this.client)) return;
    const anchor = this.client.watch().key(`${this.prefix}\u0000rxc-watch-anchor`).create();
    this.anchor = anchor;
    anchor.catch(() => {
      if (this.anchor === anchor) this.anchor = undefined;
    });
  }

  /**
   * Go's waitDeletes plus its own-key check, one read per step: waits until no key under `pfx`
   * was created before `myRev`. Resolves false as soon as our own key is gone (session expired).
   */
  private async waitDeletes(pfx: string, myRev: bigint, signal: AbortSignal): Promise<boolean> {
    let goneAt: string | undefined;
    for (;;) {
      // Our key and the last one before it: the two highest create revisions up to ours.
      const request = { ...rangeByCreate(pfx, 'Descend', myRev), limit: 2 };
      // After a wake-up, read the revision the deletion was seen at: keys created later cannot
      // precede ours, so that snapshot decides.
      const res = await this.txnCall('range', () =>
        readAtOrLatest(goneAt, (revision) =>
          this.client.kv.range(
            revision === undefined ? request : { ...request, revision, serializable: true },
            unaryDeadline(this.callTimeoutMs),
          ),
        ),
      );
      const [own, last] = res.kvs;
      if (own === undefined || BigInt(own.create_revision) !== myRev) return false;
      if (last === undefined) return true;
      this.keepWatchStream();
      goneAt = await waitDelete(this.client, last.key.toString(), {
        createRevision: last.create_revision,
        callTimeoutMs: this.callTimeoutMs,
        signal,
      });
    }
  }
}
