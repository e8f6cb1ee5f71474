import { Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { isLockLostError, LockLostError } from '../errors.js';
import { resolveScheduler, scheduleOnce } from '../internal/scheduler.js';
import { validateFunction, validateOptions } from '../internal/validate.js';
import {
  resolveAcquireOptions,
  type AcquireOptions,
  type LockBackend,
  type LockLease,
} from './LockBackend.js';

/** Options of {@link lock$} and {@link withLock}. */
export interface LockConfig extends Omit<AcquireOptions, 'signal'> {
  /** Clock for the keepalive (an `extend` every `ttlMs / 3`). Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

function acquisition(
  backend: LockBackend,
  key: string,
  options: AcquireOptions,
): Observable<LockLease> {
  if (backend.acquire$) return backend.acquire$(key, options);
  return new Observable<LockLease>((subscriber) => {
    const controller = new AbortController();
    let done = false;
    backend.acquire(key, { ...options, signal: controller.signal }).then(
      (lease) => {
        done = true;
        if (subscriber.closed) {
          void lease.release().catch(() => undefined); // unsubscribed while the answer travelled
          return;
        }
        subscriber.next(lease);
        subscriber.complete();
      },
      (e: unknown) => {
        done = true;
        subscriber.error(e);
      },
    );
    return () => {
      if (!done) controller.abort();
    };
  });
}

/**
 * Holds a lock while subscribed: waits for `key`, emits the lease once held, keeps it alive
 * (`extend` every `ttlMs / 3`), errors with `LockLostError` the moment the lease cannot be proven
 * valid, and releases it on unsubscribe. Never completes on its own.
 *
 * ```
 * other holder:  --h------r
 * lock$:         ^--------(L)----- keepalive ----!     L: lease, released at !
 * lost lease:    ^--(L)-------#                         # LockLostError
 * ```
 *
 * @example
 * lock$(locks, 'nightly-report', { ttlMs: 10_000 })
 *   .pipe(switchMap((lease) => runReport({ fence: lease.fence })), take(1))
 *   .subscribe();
 */
export function lock$(
  backend: LockBackend,
  key: string,
  config: LockConfig = {},
): Observable<LockLease> {
  validateFunction('backend.acquire', (backend as Partial<LockBackend> | undefined)?.acquire);
  const { scheduler: maybeScheduler, ...rest } = validateOptions('config', config, [
    'ttlMs',
    'waitMs',
    'scheduler',
  ]);
  const scheduler = resolveScheduler(maybeScheduler);
  const { ttlMs, waitMs } = resolveAcquireOptions(key, rest);
  const options: AcquireOptions = { ttlMs, waitMs };

  return new Observable<LockLease>((subscriber) => {
    let keepalive: Subscription | undefined;
    subscriber.add(() => keepalive?.unsubscribe());

    const scheduleExtend = (lease: LockLease) => {
      const everyMs = Math.max(1, Math.floor(lease.ttlMs / 3));
      if (!Number.isFinite(everyMs)) return;
      keepalive = scheduleOnce(scheduler, everyMs, () => {
        lease.extend().then(
          () => undefined,
          (e: unknown) => {
            // Only a definite loss ends the hold; a transient failure leaves the lease valid
            // until its expiry, which lost$ reports.
            if (isLockLostError(e)) subscriber.error(e);
          },
        );
        if (!subscriber.closed) scheduleExtend(lease);
      });
    };

    subscriber.add(
      acquisition(backend, key, options).subscribe({
        next: (lease) => {
          subscriber.add(
            lease.lost$.subscribe({
              error: (e: unknown) =>
                subscriber.error(
                  isLockLostError(e) ? e : new LockLostError(key, undefined, { cause: e }),
                ),
            }),
          );
          // Added last so it runs last; a lost lease rejects here, and there is nothing to free.
          subscriber.add(() => void lease.release().catch(() => undefined));
          if (subscriber.closed) return;
          scheduleExtend(lease);
          subscriber.next(lease);
        },
        error: (e: unknown) => subscriber.error(e),
      }),
    );
  });
}
