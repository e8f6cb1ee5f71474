import { Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { AbortedError, LockLostError, LockTimeoutError } from '../errors.js';
import { resolveScheduler, scheduleOnce } from '../internal/scheduler.js';
import { validateMs, validateNonEmptyString, validateOptions } from '../internal/validate.js';
import { LeaseEnd, LockEvents } from './LeaseEnd.js';
import {
  resolveAcquireOptions,
  type AcquireOptions,
  type LockBackend,
  type LockEvent,
  type LockLease,
} from './LockBackend.js';

/** Options of {@link MemoryLocks}. */
export interface MemoryLocksConfig {
  /** Clock and timers for TTLs and wait timeouts. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

interface Waiter {
  ttlMs: number;
  grant(lease: MemoryLease): void;
}

/** What a lease needs of its MemoryLocks: the clock, the events, and the hand-off on its end. */
interface LeaseOwner {
  readonly scheduler: SchedulerLike;
  readonly events: LockEvents;
  handOff(lease: MemoryLease): void;
}

interface KeyState {
  holder: MemoryLease | undefined;
  /** FIFO of pending acquire calls: one entry per caller still waiting, removed on timeout/abort. */
  queue: Waiter[];
}

class MemoryLease implements LockLease {
  private readonly end = new LeaseEnd();
  readonly lost$ = this.end.lost$;
  private expiry: Subscription | undefined;

  constructor(
    private readonly owner: LeaseOwner,
    readonly key: string,
    readonly fence: bigint,
    public ttlMs: number,
  ) {
    this.schedule(ttlMs);
  }

  get held(): boolean {
    return this.end.held;
  }

  /** Handed to its caller now (waiting since `startedAt`, or granted within the call). */
  announce(startedAt?: number): void {
    this.end.announce(this.owner.events, this, startedAt);
  }

  extend(ttlMs: number = this.ttlMs): Promise<void> {
    validateMs('ttlMs', ttlMs, 1, { allowInfinity: true });
    if (!this.end.held) return Promise.reject(this.lostOrReleased());
    this.ttlMs = ttlMs;
    this.schedule(ttlMs);
    this.end.extended();
    return Promise.resolve();
  }

  release(): Promise<void> {
    if (this.end.lost) return Promise.reject(this.lostOrReleased());
    if (this.end.release()) {
      this.expiry?.unsubscribe();
      this.owner.handOff(this);
    }
    return Promise.resolve();
  }

  /** Ends the lease as lost (TTL passed or revoked) and hands the lock on. */
  lose(reason: string): void {
    this.expiry?.unsubscribe();
    if (this.end.lose(new LockLostError(this.key, `lock "${this.key}" was lost: ${reason}`))) {
      this.owner.handOff(this);
    }
  }

  private lostOrReleased(): Error {
    return this.end.lostError ?? new LockLostError(this.key, `lock "${this.key}" was released`);
  }

  private schedule(ttlMs: number): void {
    this.expiry?.unsubscribe();
    if (ttlMs === Number.POSITIVE_INFINITY) return;
    this.expiry = scheduleOnce(this.owner.scheduler, ttlMs, () => this.lose('TTL expired'));
  }
}

/**
 * In-process locks for one Node process or browser page, with the same semantics as the Redis
 * and etcd backends: strict FIFO hand-off (a releasing holder cannot barge ahead of waiters),
 * TTL-bounded leases, fencing tokens, `waitMs`, `AbortSignal`. Timers run on the `scheduler`, so
 * specs drive it in virtual time; `acquire$` grants synchronously when the lock is free.
 *
 * ```
 * A: acquire --held(fence 1)----release
 * B: acquire ......waiting...........held(fence 2)--
 * ```
 *
 * Memory: one small record per key currently held or waited on, plus one bigint fence counter per
 * key ever locked; the wait queue holds exactly the pending `acquire` calls.
 *
 * @example
 * const locks = new MemoryLocks();
 * const lease = await locks.acquire('report', { ttlMs: 5_000 });
 * try { await build(lease.fence); } finally { await lease.release(); }
 */
export class MemoryLocks implements LockBackend {
  /**
   * Acquires, timeouts, extends, releases and losses of this instance's leases, `at` in
   * `scheduler` time: hot, no replay. A lease handed over on release is `released` (the old
   * holder) before `acquired` (the next one); `waitedMs` is 0 for a lock granted at once.
   */
  readonly events$: Observable<LockEvent>;
  private readonly scheduler: SchedulerLike;
  private readonly lockEvents: LockEvents;
  private readonly owner: LeaseOwner;
  private readonly keys = new Map<string, KeyState>();
  private readonly fences = new Map<string, bigint>();

  constructor(config?: MemoryLocksConfig) {
    this.scheduler = resolveScheduler(validateOptions('config', config, ['scheduler']).scheduler);
    this.lockEvents = new LockEvents(this.scheduler);
    this.events$ = this.lockEvents.events$;
    this.owner = {
      scheduler: this.scheduler,
      events: this.lockEvents,
      handOff: (lease) => this.handOff(lease),
    };
  }

  acquire(key: string, options?: AcquireOptions): Promise<LockLease> {
    const lease$ = this.acquire$(key, options);
    return new Promise<LockLease>((resolve, reject) => {
      lease$.subscribe({ next: resolve, error: reject });
    });
  }

  /**
   * Observable acquire: emits the lease and completes, synchronously when the lock is free;
   * unsubscribing while waiting leaves the queue.
   */
  acquire$(key: string, options?: AcquireOptions): Observable<LockLease> {
    const { ttlMs, waitMs, signal } = resolveAcquireOptions(key, options, {
      allowInfiniteTtl: true,
    });
    return new Observable<LockLease>((subscriber) => {
      if (signal?.aborted) {
        subscriber.error(new AbortedError(`acquire of lock "${key}" aborted`));
        return;
      }
      const state = this.state(key);
      if (state.holder === undefined && state.queue.length === 0) {
        const lease = this.grantTo(key, state, ttlMs);
        lease.announce();
        subscriber.next(lease);
        subscriber.complete();
        return;
      }
      if (waitMs === 0) {
        this.lockEvents.timeout(key);
        subscriber.error(new LockTimeoutError(key, 0));
        return;
      }
      const startedAt = this.scheduler.now();
      let timer: Subscription | undefined;
      const leave = () => {
        const at = state.queue.indexOf(waiter);
        if (at >= 0) state.queue.splice(at, 1);
        timer?.unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        this.forget(key, state);
      };
      const waiter: Waiter = {
        ttlMs,
        grant: (lease) => {
          leave();
          lease.announce(startedAt);
          subscriber.next(lease);
          subscriber.complete();
        },
      };
      const onAbort = () => {
        leave();
        subscriber.error(new AbortedError(`acquire of lock "${key}" aborted`));
      };
      state.queue.push(waiter);
      signal?.addEventListener('abort', onAbort);
      if (waitMs !== Number.POSITIVE_INFINITY) {
        timer = scheduleOnce(this.scheduler, waitMs, () => {
          leave();
          this.lockEvents.timeout(key, startedAt);
          subscriber.error(new LockTimeoutError(key, waitMs));
        });
      }
      return leave;
    });
  }

  /**
   * Breaks the lock behind its holder's back (an operator's "force unlock"): the holder's
   * `lost$` errors with `LockLostError` and the next waiter gets the lock. Returns false if the
   * key was not held.
   */
  revoke(key: string): boolean {
    validateNonEmptyString('key', key);
    const holder = this.keys.get(key)?.holder;
    holder?.lose('revoked');
    return holder !== undefined;
  }

  /** The current holder's fence, or undefined when `key` is free. */
  holderFence(key: string): bigint | undefined {
    return this.keys.get(key)?.holder?.fence;
  }

  /** Number of acquire calls waiting for `key`. */
  waiting(key: string): number {
    return this.keys.get(key)?.queue.length ?? 0;
  }

  /** Called by a lease that ended: passes the lock to the first waiter, FIFO. */
  private handOff(lease: MemoryLease): void {
    const state = this.keys.get(lease.key);
    if (state === undefined || state.holder !== lease) return;
    state.holder = undefined;
    const next = state.queue[0];
    if (next === undefined) {
      this.forget(lease.key, state);
      return;
    }
    // grantTo sets the holder before the waiter's subscriber runs, so re-entrant calls see it.
    next.grant(this.grantTo(lease.key, state, next.ttlMs));
  }

  private grantTo(key: string, state: KeyState, ttlMs: number): MemoryLease {
    const fence = (this.fences.get(key) ?? 0n) + 1n;
    this.fences.set(key, fence);
    const lease = new MemoryLease(this.owner, key, fence, ttlMs);
    state.holder = lease;
    return lease;
  }

  private state(key: string): KeyState {
    let state = this.keys.get(key);
    if (state === undefined) {
      state = { holder: undefined, queue: [] };
      this.keys.set(key, state);
    }
    return state;
  }

  private forget(key: string, state: KeyState): void {
    if (state.holder === undefined && state.queue.length === 0 && this.keys.get(key) === state) {
      this.keys.delete(key);
    }
  }
}
