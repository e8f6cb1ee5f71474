import { LockLostError } from '../lib/errors.js';
import { MemoryLocks, withLock } from '../lib/lock/index.js';
import { marbles } from '../lib/testing/index.js';

describe('withLock (marbles, MemoryLocks)', () => {
  it(
    'subscribes to the source only while holding the lock, one holder at a time',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const locks = new MemoryLocks();
      const first = cold('-a-b-|');
      const second = cold('  c-d|');
      expectObservable(first.pipe(withLock(locks, 'k'))).toBe('-a-b-|');
      expectObservable(second.pipe(withLock(locks, 'k')), '--^').toBe('-----c-d|');
      expectSubscriptions(first.subscriptions).toBe('^----!');
      expectSubscriptions(second.subscriptions).toBe('-----^--!');
    }),
  );

  it(
    'unsubscribes the source at once and errors when the lock is lost',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const locks = new MemoryLocks();
      const source = cold('-a-b-c-d|');
      cold('----x').subscribe(() => locks.revoke('k'));
      expectObservable(source.pipe(withLock(locks, 'k'))).toBe(
        '-a-b#',
        undefined,
        new LockLostError('k', 'lock "k" was lost: revoked'),
      );
      expectSubscriptions(source.subscriptions).toBe('^---!');
    }),
  );

  it(
    'releases the lock when the source errors or the consumer unsubscribes',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const locks = new MemoryLocks();
      const failing = cold('-#');
      const endless = cold('-x-x-x-x-x-x-x');
      const last = cold('z|');
      expectObservable(failing.pipe(withLock(locks, 'k'))).toBe('-#');
      expectObservable(endless.pipe(withLock(locks, 'k')), '-^---!').toBe('--x-x');
      expectObservable(last.pipe(withLock(locks, 'k')), '--^').toBe('-----z|');
      expectSubscriptions(failing.subscriptions).toBe('^!');
      expectSubscriptions(endless.subscriptions).toBe('-^---!');
      expectSubscriptions(last.subscriptions).toBe('-----^!');
    }),
  );
});
