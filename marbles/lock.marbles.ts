import { map } from 'rxjs';
import { LockLostError, LockTimeoutError } from '../lib/errors.js';
import { lock$, MemoryLocks } from '../lib/lock/index.js';
import { marbles } from '../lib/testing/index.js';

// Inside TestScheduler.run the default asyncScheduler runs in virtual time, so MemoryLocks'
// TTL timers and lock$'s keepalive are driven frame by frame.
describe('lock$ (marbles, MemoryLocks)', () => {
  it(
    'emits the lease once free, FIFO, and releases on unsubscribe',
    marbles(({ expectObservable }) => {
      const locks = new MemoryLocks();
      const fence = map((lease: { fence: bigint }) => lease.fence);
      const values = { a: 1n, b: 2n, c: 3n };
      expectObservable(lock$(locks, 'k').pipe(fence), '^----!').toBe('a-----', values);
      expectObservable(lock$(locks, 'k').pipe(fence), '-^-------!').toBe('-----b---', values);
      expectObservable(lock$(locks, 'k').pipe(fence), '--^---------!').toBe('---------c-', values);
    }),
  );

  it(
    'keeps the lease alive past its TTL while subscribed',
    marbles(({ expectObservable, time }) => {
      const locks = new MemoryLocks();
      const ttlMs = time('----------|'); // 10 frames; extended every 3
      expectObservable(lock$(locks, 'k', { ttlMs }).pipe(map((l) => l.fence)), '^ 50ms !').toBe(
        'a',
        { a: 1n },
      );
      // the holder kept it for 50 frames, so the next one only gets it then (fence 2)
      expectObservable(lock$(locks, 'k', { ttlMs }).pipe(map((l) => l.fence)), '-^ 60ms !').toBe(
        '- 50ms a',
        { a: 2n },
      );
    }),
  );

  it(
    'errors with LockLostError when the lock is revoked behind its back',
    marbles(({ cold, expectObservable }) => {
      const locks = new MemoryLocks();
      cold('---x').subscribe(() => locks.revoke('k'));
      expectObservable(lock$(locks, 'k').pipe(map((l) => l.fence))).toBe(
        'a--#',
        { a: 1n },
        new LockLostError('k', 'lock "k" was lost: revoked'),
      );
    }),
  );

  it(
    'errors with LockTimeoutError when not acquired within waitMs',
    marbles(({ expectObservable }) => {
      const locks = new MemoryLocks();
      expectObservable(lock$(locks, 'k').pipe(map((l) => l.fence)), '^-------!').toBe('a', {
        a: 1n,
      });
      expectObservable(lock$(locks, 'k', { waitMs: 3 })).toBe(
        '---#',
        undefined,
        new LockTimeoutError('k', 3),
      );
      expectObservable(lock$(locks, 'k', { waitMs: 0 })).toBe(
        '#',
        undefined,
        new LockTimeoutError('k', 0),
      );
    }),
  );
});
