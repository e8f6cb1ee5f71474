/**
 * The events$ suite every LockBackend passes (Memory, Redis single and quorum, etcd), next to
 * `lockConformance` and with the same harness. The backends run on the default asyncScheduler,
 * whose clock is Date.now(): every `at`, `waitedMs` and `heldMs` is checked against times the
 * spec reads around the call that caused it. Every wait is for an event, with a deadline.
 */
import { expect } from 'chai';
import type { Subscription } from 'rxjs';
import { isLockLostError, isLockTimeoutError } from '../../lib/errors.js';
import type { LockBackend, LockEvent } from '../../lib/lock/LockBackend.js';
import type { LockHarness } from './conformance.js';
import { sleep } from './support.js';

type Of<T extends LockEvent['type']> = Extract<LockEvent, { type: T }>;

/** The events of one backend since `record`, and a promise for the first one that matches. */
class EventLog {
  readonly events: LockEvent[] = [];
  private readonly sub: Subscription;
  private waiters: { match: (e: LockEvent) => boolean; resolve: (e: LockEvent) => void }[] = [];

  constructor(backend: LockBackend) {
    expect(backend.events$, 'events$').to.not.equal(undefined);
    this.sub = backend.events$!.subscribe((e) => {
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => !(w.match(e) && (w.resolve(e), true)));
    });
  }

  /** The first event (already seen or still to come) of `type` for `key` (and `fence`). */
  next<T extends LockEvent['type']>(
    type: T,
    key: string,
    fence?: bigint,
    timeoutMs = 10_000,
  ): Promise<Of<T>> {
    const match = (e: LockEvent) =>
      e.type === type &&
      e.key === key &&
      (fence === undefined || ('fence' in e && e.fence === fence));
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen as Of<T>);
    return new Promise<Of<T>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no '${type}' event for ${key} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e as Of<T>);
        },
      });
    });
  }

  /** The types of the events of `key` (of the lease with `fence`, if given), in order. */
  types(key: string, fence?: bigint): string[] {
    return this.events
      .filter((e) => e.key === key && (fence === undefined || ('fence' in e && e.fence === fence)))
      .map((e) => e.type);
  }

  stop(): void {
    this.sub.unsubscribe();
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

let keySeq = 0;

export function lockEventsConformance(name: string, makeHarness: () => Promise<LockHarness>): void {
  describe(`LockBackend events$ conformance: ${name}`, function () {
    this.timeout(30_000);
    let h: LockHarness;
    let key: string;
    let logs: EventLog[] = [];
    const record = (backend: LockBackend) => {
      const log = new EventLog(backend);
      logs.push(log);
      return log;
    };

    before(async function () {
      this.timeout(60_000);
      h = await makeHarness();
    });
    after(async () => h?.close());
    beforeEach(() => {
      key = `{ev${process.pid}x${++keySeq}}`;
    });
    afterEach(() => {
      for (const log of logs) log.stop();
      logs = [];
    });

    it('reports acquired, extended and released in order, timed by the backend clock', async () => {
      const locks = h.client();
      const log = record(locks);
      const t0 = Date.now();
      const lease = await locks.acquire(key, { ttlMs: h.ttlMs });
      const t1 = Date.now();
      await lease.extend();
      const t2 = Date.now();
      await sleep(20); // a hold long enough to measure
      const t3 = Date.now();
      await lease.release();
      const t4 = Date.now();
      const released = await log.next('released', key);
      const ofKey = log.events.filter((e) => e.key === key);
      const [acquired, extended] = ofKey as [Of<'acquired'>, Of<'extended'>];
      expect(log.types(key)).to.deep.equal(['acquired', 'extended', 'released']);
      expect(acquired).to.include({ key, fence: lease.fence });
      expect(acquired.waitedMs).to.be.within(0, t1 - t0);
      expect(acquired.at).to.be.within(t0, t1);
      expect(extended).to.include({ key, fence: lease.fence });
      expect(extended.at).to.be.within(t1, t2);
      expect(released).to.include({ key, fence: lease.fence });
      expect(released.heldMs).to.be.within(t3 - t1, t4 - t0);
      // (each time is its own read of a millisecond clock)
      expect(released.heldMs - (released.at - acquired.at)).to.be.within(-1, 1);
      expect(released.at).to.be.within(t3, t4);
    });

    it('reports a timeout for waitMs 0 and for a wait that ran out, with the time waited', async () => {
      const holder = await h.client().acquire(key, { ttlMs: h.ttlMs });
      const other = h.client();
      const log = record(other);
      let t0 = Date.now();
      expect(isLockTimeoutError(await rejection(other.acquire(key, { waitMs: 0 })))).to.equal(true);
      let t1 = Date.now();
      const once = await log.next('timeout', key);
      expect(once.waitedMs).to.be.within(0, t1 - t0);
      expect(once.at).to.be.within(t0, t1);
      t0 = Date.now();
      const waited = other.acquire(key, { ttlMs: h.ttlMs, waitMs: 150 });
      expect(isLockTimeoutError(await rejection(waited))).to.equal(true);
      t1 = Date.now();
      await holder.release();
      const timeouts = log.events.filter((e): e is Of<'timeout'> => e.type === 'timeout');
      expect(timeouts).to.have.length(2);
      // a timer may fire a millisecond early by Date.now()
      expect(timeouts[1].waitedMs).to.be.within(149, t1 - t0);
      expect(timeouts[1].at).to.be.within(t0 + 149, t1);
      // (a backend shared by both sides, as MemoryLocks here, also reports the holder's release)
      expect(log.types(key).filter((t) => t !== 'released')).to.deep.equal(['timeout', 'timeout']);
    });

    it('reports a waiter acquired after the release, waitedMs counting its wait', async () => {
      const a = h.client();
      const b = h.client();
      const logA = record(a);
      const logB = a === b ? logA : record(b);
      const holder = await a.acquire(key, { ttlMs: h.ttlMs });
      const t0 = Date.now();
      const waiting = b.acquire(key, { ttlMs: h.ttlMs, waitMs: 10_000 });
      const t1 = Date.now();
      await sleep(h.settleMs); // the waiter queues and waits
      const t2 = Date.now();
      await holder.release();
      const lease = await waiting;
      const t3 = Date.now();
      const released = await logA.next('released', key, holder.fence);
      const acquired = await logB.next('acquired', key, lease.fence);
      expect(acquired.waitedMs).to.be.within(Math.max(1, t2 - t1), t3 - t0);
      expect(acquired.at).to.be.at.least(released.at);
      expect(logB.types(key, lease.fence)).to.deep.equal(['acquired']);
      await lease.release();
      expect((await logB.next('released', key, lease.fence)).heldMs).to.be.at.least(0);
    });

    it('reports a broken lock as lost once, with its error, before lost$ errors', async () => {
      const locks = h.client();
      const log = record(locks);
      const lease = await locks.acquire(key, { ttlMs: h.ttlMs });
      let typesAtLostError: string[] = [];
      const lostError = new Promise<unknown>((resolve) => {
        lease.lost$.subscribe({
          error: (e: unknown) => {
            typesAtLostError = log.types(key, lease.fence);
            resolve(e);
          },
        });
      });
      await h.breakLock(lease);
      // A backend that is not told of the loss (etcd) notices it on the next extend.
      await lease.extend().catch(() => undefined);
      const lost = await log.next('lost', key, lease.fence);
      const error = await lostError;
      expect(isLockLostError(lost.error), String(lost.error)).to.equal(true);
      expect(lost.error).to.equal(error);
      expect(typesAtLostError).to.deep.equal(['acquired', 'lost']);
      expect(isLockLostError(await rejection(lease.release()))).to.equal(true);
      const next = await h.client().acquire(key, { ttlMs: h.ttlMs, waitMs: 10_000 });
      await next.release();
      expect(log.types(key, lease.fence)).to.deep.equal(['acquired', 'lost']);
    });

    it('reports lost when a lease runs out unextended, with nobody on lost$', async function () {
      if (!h.expiresWithoutExtend) this.skip();
      const locks = h.client();
      const log = record(locks);
      const t0 = Date.now();
      const lease = await locks.acquire(key, { ttlMs: 300 });
      const lost = await log.next('lost', key, lease.fence);
      expect(isLockLostError(lost.error), String(lost.error)).to.equal(true);
      // Redis counts 1 % + 2 ms of drift off the TTL
      expect(lost.at).to.be.at.least(t0 + 300 - 6);
      expect(log.types(key)).to.deep.equal(['acquired', 'lost']);
    });

    it('replays nothing to a late subscriber, whose released still carries the whole hold', async () => {
      const locks = h.client();
      const t0 = Date.now();
      const first = await locks.acquire(key, { ttlMs: h.ttlMs });
      const t1 = Date.now();
      await first.extend();
      await sleep(20); // a hold long enough to measure
      const log = record(locks);
      const t2 = Date.now();
      await first.release();
      const t3 = Date.now();
      const second = await locks.acquire(key, { ttlMs: h.ttlMs });
      await second.release();
      await log.next('released', key, second.fence);
      expect(log.types(key)).to.deep.equal(['released', 'acquired', 'released']);
      expect((await log.next('released', key, first.fence)).heldMs).to.be.within(t2 - t1, t3 - t0);
    });
  });
}
