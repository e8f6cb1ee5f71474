import { Observable, Subscription, type MonoTypeOperatorFunction } from 'rxjs';
import type { LockBackend } from './LockBackend.js';
import { lock$, type LockConfig } from './lock.js';

/**
 * Runs the source only while `key` is locked: subscribes to it once the lock is held, releases
 * the lock when the source completes, errors or is unsubscribed, and if the lock is lost
 * unsubscribes the source at once and errors with `LockLostError`.
 *
 * ```
 * source:        -a-b-c|
 * lock held at:  ---^          (another holder released at frame 3)
 * result:        ----a-b-c|    lock released before complete is delivered
 * ```
 *
 * @example
 * migrate$.pipe(withLock(locks, 'schema-migration', { ttlMs: 15_000, waitMs: 60_000 }))
 *   .subscribe({ error: (e) => isLockLostError(e) && alert('lost the lock; migration stopped') });
 */
export function withLock<T>(
  backend: LockBackend,
  key: string,
  config: LockConfig = {},
): MonoTypeOperatorFunction<T> {
  const held$ = lock$(backend, key, config);
  return (source) =>
    new Observable<T>((subscriber) => {
      const inner = new Subscription();
      const holding = new Subscription();
      // The source goes first, then the lock: work stops before another holder can start.
      subscriber.add(inner);
      subscriber.add(holding);
      holding.add(
        held$.subscribe({
          next: () => {
            inner.add(
              source.subscribe({
                next: (value) => subscriber.next(value),
                // Release first, so a re-subscribing consumer (repeat, retry) can take the lock.
                error: (e: unknown) => {
                  holding.unsubscribe();
                  subscriber.error(e);
                },
                complete: () => {
                  holding.unsubscribe();
                  subscriber.complete();
                },
              }),
            );
          },
          error: (e: unknown) => {
            inner.unsubscribe();
            subscriber.error(e);
          },
        }),
      );
    });
}
