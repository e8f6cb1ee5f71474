/**
 * The one behaviour suite every LockBackend passes (Memory, Redis single and Cluster, etcd single
 * and 3-member cluster). Each backend spec calls `lockConformance(name, makeHarness)`.
 */
import { expect } from 'chai';
import { firstValueFrom, interval, lastValueFrom, map, take } from 'rxjs';
import { isAbortedError, isLockLostError, isLockTimeoutError } from '../../lib/errors.js';
import type { LockBackend, LockLease } from '../../lib/lock/LockBackend.js';
import { lock$ } from '../../lib/lock/lock.js';
import { withLock } from '../../lib/lock/withLock.js';
import { sleep } from './support.js';

export interface LockHarness {
  /** A new client of the backend (another process's view); closed by `close()`. */
  client(): LockBackend;
  /** Deletes the lock key or revokes the lease behind the holder's back. */
  breakLock(lease: LockLease): Promise<void>;
  /** True if waiters are served in arrival order. */
  fifo: boolean;
  /** TTL in ms for leases in these tests (backends with a session TTL may ignore it). */
  ttlMs: number;
  /** True if a lease that is never extended expires after `ttlMs` (false: session keepalive). */
  expiresWithoutExtend: boolean;
  /** How long to give an asynchronous effect (queueing, a wake-up) to land, in ms. */
  settleMs: number;
  close(): Promise<void>;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

let keySeq = 0;

export function lockConformance(name: string, makeHarness: () => Promise<LockHarness>): void {
  describe(`LockBackend conformance: ${name}`, function () {
    this.timeout(30_000);
    let h: LockHarness;
    let key: string;

    before(async function () {
      this.timeout(60_000);
      h = await makeHarness();
    });
    after(async () => h?.close());
    beforeEach(() => {
      key = `{conf${process.pid}x${++keySeq}}`;
    });

    it('excludes 8 concurrent acquirers doing read-modify-write with awaits inside', async () => {
      const clients = Array.from({ length: 8 }, () => h.client());
      let shared = 0;
      let inside = 0;
      let maxInside = 0;
      const fences: bigint[] = [];
      await Promise.all(
        clients.map(async (client) => {
          for (let round = 0; round < 3; round++) {
            const lease = await client.acquire(key, { ttlMs: h.ttlMs });
            inside++;
            maxInside = Math.max(maxInside, inside);
            fences.push(lease.fence);
            const read = shared;
            await sleep(1 + Math.floor(Math.random() * 3));
            shared = read + 1;
            inside--;
            await lease.release();
          }
        }),
      );
      expect(maxInside).to.equal(1);
      expect(shared).to.equal(24);
      for (let i = 1; i < fences.length; i++) {
        expect(fences[i] > fences[i - 1], `fence ${fences[i]} after ${fences[i - 1]}`).to.equal(
          true,
        );
      }
    });

    it('serves waiters in arrival order when it promises FIFO', async function () {
      if (!h.fifo) this.skip();
      const holder = await h.client().acquire(key, { ttlMs: h.ttlMs });
      const order: string[] = [];
      const waiting: Promise<void>[] = [];
      for (const id of ['b', 'c', 'd']) {
        const client = h.client();
        waiting.push(
          client.acquire(key, { ttlMs: h.ttlMs }).then(async (lease) => {
            order.push(id);
            await sleep(5);
            await lease.release();
          }),
        );
        await sleep(h.settleMs);
      }
      await holder.release();
      await Promise.all(waiting);
      expect(order).to.deep.equal(['b', 'c', 'd']);
    });

    it('fails at once with LockTimeoutError for waitMs 0 when held, and waits up to waitMs', async () => {
      const holder = await h.client().acquire(key, { ttlMs: h.ttlMs, waitMs: 0 });
      const other = h.client();
      const e = await rejection(other.acquire(key, { ttlMs: h.ttlMs, waitMs: 0 }));
      expect(isLockTimeoutError(e), String(e)).to.equal(true);
      const e2 = await rejection(other.acquire(key, { ttlMs: h.ttlMs, waitMs: 150 }));
      expect(isLockTimeoutError(e2), String(e2)).to.equal(true);
      await holder.release();
      const next = await other.acquire(key, { ttlMs: h.ttlMs, waitMs: 0 });
      expect(next.fence > holder.fence).to.equal(true);
      await next.release();
    });

    it('cancels a waiter through its AbortSignal and removes its queue entry', async () => {
      const holder = await h.client().acquire(key, { ttlMs: h.ttlMs });
      const controller = new AbortController();
      const aborted = h.client().acquire(key, { ttlMs: h.ttlMs, signal: controller.signal });
      await sleep(h.settleMs);
      const next = h.client().acquire(key, { ttlMs: h.ttlMs, waitMs: 5_000 });
      await sleep(h.settleMs);
      controller.abort();
      expect(isAbortedError(await rejection(aborted))).to.equal(true);
      await holder.release();
      const lease = await next; // not stuck behind the aborted entry
      await lease.release();
      const pre = new AbortController();
      pre.abort();
      expect(
        isAbortedError(await rejection(h.client().acquire(key, { signal: pre.signal }))),
      ).to.equal(true);
    });

    it('errors lock$ with LockLostError when the lock is broken behind its back', async () => {
      const client = h.client();
      const lost = new Promise<unknown>((resolve) => {
        lock$(client, key, { ttlMs: h.ttlMs }).subscribe({
          next: (lease) => void h.breakLock(lease),
          error: resolve,
        });
      });
      expect(isLockLostError(await lost), String(await lost)).to.equal(true);
    });

    it('rejects release() of a lost lease with LockLostError and never frees the next holder', async () => {
      const first = await h.client().acquire(key, { ttlMs: h.ttlMs });
      const lost = firstValueFrom(first.lost$).catch((e: unknown) => e);
      await h.breakLock(first);
      const second = await h.client().acquire(key, { ttlMs: h.ttlMs, waitMs: 10_000 });
      expect(second.fence > first.fence).to.equal(true);
      expect(isLockLostError(await rejection(first.release()))).to.equal(true);
      // the second holder still holds it
      const e = await rejection(h.client().acquire(key, { ttlMs: h.ttlMs, waitMs: 0 }));
      expect(isLockTimeoutError(e), String(e)).to.equal(true);
      await second.release();
      await second.release(); // idempotent
      void lost;
    });

    it('expires a lease that is not extended', async function () {
      if (!h.expiresWithoutExtend) this.skip();
      const lease = await h.client().acquire(key, { ttlMs: 300 });
      const e = await firstValueFrom(lease.lost$).catch((err: unknown) => err);
      expect(isLockLostError(e), String(e)).to.equal(true);
      const next = await h.client().acquire(key, { ttlMs: h.ttlMs, waitMs: 5_000 });
      expect(next.fence > lease.fence).to.equal(true);
      await next.release();
    });

    it('keeps the lease alive while lock$ is subscribed and releases on unsubscribe', async () => {
      const client = h.client();
      const ttlMs = h.expiresWithoutExtend ? 300 : h.ttlMs;
      const lease = await new Promise<LockLease>((resolve, reject) => {
        const sub = lock$(client, key, { ttlMs }).subscribe({
          next: (l) => {
            setTimeout(() => {
              sub.unsubscribe();
              resolve(l);
            }, 3 * ttlMs);
          },
          error: reject,
        });
      });
      const next = await h.client().acquire(key, { ttlMs: h.ttlMs, waitMs: 5_000 });
      expect(next.fence > lease.fence).to.equal(true);
      await next.release();
    });

    it('withLock runs the source only while holding the lock', async () => {
      const holder = await h.client().acquire(key, { ttlMs: h.ttlMs });
      let started = false;
      const result = lastValueFrom(
        interval(1).pipe(
          take(3),
          map((i) => {
            started = true;
            return i;
          }),
          withLock(h.client(), key, { ttlMs: h.ttlMs }),
        ),
      );
      await sleep(h.settleMs);
      expect(started).to.equal(false);
      await holder.release();
      expect(await result).to.equal(2);
      const after = await h.client().acquire(key, { ttlMs: h.ttlMs, waitMs: 5_000 });
      await after.release();
    });

    it('rejects bad input where it is written', () => {
      const client = h.client();
      expect(() => client.acquire('')).to.throw(RangeError, /key/);
      expect(() => client.acquire(key, { ttlMs: 0 })).to.throw(RangeError, /ttlMs/);
      expect(() => client.acquire(key, { ttlMs: Number.NaN })).to.throw(RangeError, /ttlMs/);
      expect(() => client.acquire(key, { waitMs: -1 })).to.throw(RangeError, /waitMs/);
      expect(() => lock$(client, key, { ttlMs: Number.NaN })).to.throw(RangeError, /ttlMs/);
    });
  });
}
