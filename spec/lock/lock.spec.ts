import { expect } from 'chai';
import { firstValueFrom, interval } from 'rxjs';
import { isAbortedError, isLockLostError, isLockTimeoutError } from '../../lib/errors.js';
import type { AcquireOptions, LockBackend, LockLease } from '../../lib/lock/index.js';
import { lock$, MemoryLocks, withLock } from '../../lib/lock/index.js';
import { sleep } from './support.js';

/** MemoryLocks seen only through the Promise API, as a remote backend is (no acquire$). */
class PromiseOnly implements LockBackend {
  readonly calls: AcquireOptions[] = [];
  constructor(
    readonly inner: MemoryLocks,
    private readonly delayMs = 0,
  ) {}
  async acquire(key: string, options?: AcquireOptions): Promise<LockLease> {
    this.calls.push(options ?? {});
    const lease = await this.inner.acquire(key, options);
    if (this.delayMs) await sleep(this.delayMs); // the answer is still on the wire
    return lease;
  }
}

describe('lock$ and withLock over a Promise-only backend', () => {
  it('aborts a waiting acquire on unsubscribe and leaves the queue', async () => {
    const memory = new MemoryLocks();
    const holder = await memory.acquire('k');
    const backend = new PromiseOnly(memory);
    const sub = lock$(backend, 'k').subscribe();
    await sleep(5);
    expect(memory.waiting('k')).to.equal(1);
    sub.unsubscribe();
    expect(memory.waiting('k')).to.equal(0);
    expect(backend.calls[0].signal?.aborted).to.equal(true);
    await holder.release();
    expect(memory.holderFence('k')).to.equal(undefined);
  });

  it('releases a lease that arrives after the subscriber left', async () => {
    const memory = new MemoryLocks();
    const backend = new PromiseOnly(memory, 20);
    const sub = lock$(backend, 'k').subscribe();
    await sleep(5); // granted in memory, the answer still travelling
    expect(memory.holderFence('k')).to.equal(1n);
    sub.unsubscribe();
    await sleep(40);
    expect(memory.holderFence('k')).to.equal(undefined);
  });

  it('extends at a third of the TTL, so the lease outlives it', async () => {
    const memory = new MemoryLocks();
    const lease = await new Promise<LockLease>((resolve) => {
      const sub = lock$(new PromiseOnly(memory), 'k', { ttlMs: 60 }).subscribe((l) =>
        setTimeout(() => {
          sub.unsubscribe();
          resolve(l);
        }, 200),
      );
    });
    expect(lease.fence).to.equal(1n);
    expect(memory.holderFence('k')).to.equal(undefined); // released on unsubscribe, not expired
    const next = await memory.acquire('k', { waitMs: 0 });
    expect(next.fence).to.equal(2n);
  });

  it('withLock errors with LockLostError and stops the source when the lock is revoked', async () => {
    const memory = new MemoryLocks();
    let values = 0;
    const error = await new Promise<unknown>((resolve) => {
      interval(5)
        .pipe(withLock(new PromiseOnly(memory), 'k'))
        .subscribe({ next: () => values++, error: resolve });
      setTimeout(() => memory.revoke('k'), 40);
    });
    expect(isLockLostError(error)).to.equal(true);
    expect(values).to.be.above(0);
    const before = values;
    await sleep(30);
    expect(values).to.equal(before); // the source was unsubscribed at once
  });

  it('passes waitMs through: LockTimeoutError from the backend', async () => {
    const memory = new MemoryLocks();
    const holder = await memory.acquire('k');
    const e = await firstValueFrom(lock$(new PromiseOnly(memory), 'k', { waitMs: 10 })).catch(
      (err: unknown) => err,
    );
    expect(isLockTimeoutError(e)).to.equal(true);
    await holder.release();
  });
});

describe('MemoryLocks', () => {
  it('hands the lock to waiters strictly in arrival order, not to a re-acquiring holder', async () => {
    const locks = new MemoryLocks();
    const order: string[] = [];
    const first = await locks.acquire('k');
    const waiters = ['a', 'b', 'c'].map((id) =>
      locks.acquire('k').then(async (lease) => {
        order.push(id);
        await lease.release();
      }),
    );
    await first.release();
    const again = locks.acquire('k').then((lease) => {
      order.push('first again');
      return lease.release();
    });
    await Promise.all([...waiters, again]);
    expect(order).to.deep.equal(['a', 'b', 'c', 'first again']);
  });

  it('rejects a pre-aborted signal and an abort while waiting with AbortedError', async () => {
    const locks = new MemoryLocks();
    const holder = await locks.acquire('k');
    const controller = new AbortController();
    const waiting = locks.acquire('k', { signal: controller.signal });
    expect(locks.waiting('k')).to.equal(1);
    controller.abort();
    expect(isAbortedError(await waiting.catch((e: unknown) => e))).to.equal(true);
    expect(locks.waiting('k')).to.equal(0);
    expect(
      isAbortedError(
        await locks.acquire('k', { signal: controller.signal }).catch((e: unknown) => e),
      ),
    ).to.equal(true);
    await holder.release();
  });

  it('revoke() breaks the lock for its holder and hands it on', async () => {
    const locks = new MemoryLocks();
    const first = await locks.acquire('k');
    const second = locks.acquire('k');
    expect(locks.revoke('k')).to.equal(true);
    expect((await second).fence).to.equal(2n);
    expect(isLockLostError(await first.release().catch((e: unknown) => e))).to.equal(true);
    expect(isLockLostError(await first.extend().catch((e: unknown) => e))).to.equal(true);
    expect(locks.revoke('free')).to.equal(false);
  });
});
