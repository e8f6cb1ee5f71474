import { Observable, type SchedulerLike } from 'rxjs';
import { LockLostError } from '../errors.js';
import { LeaseValidity } from '../internal/LeaseValidity.js';
import { LeaseEnd, type LockEvents } from '../lock/LeaseEnd.js';
import type { LockLease } from '../lock/LockBackend.js';

/**
 * The shortest TTL a Redis lease accepts: below it the drift allowance (1 % + 2 ms) leaves a
 * proof valid for a moment at best, and `lock$` would renew it every millisecond.
 */
export const MIN_TTL_MS = 10;

/**
 * The validity half of a Redis lease. Whether it still holds is decided by {@link LeaseValidity}
 * alone (send time of the last confirmed acquire/extend + ttl − drift allowance), so single and
 * quorum mode, and every lease, agree. A new lease proves nothing until {@link confirm} accepts a
 * proof: a reply that came too late (a server pause) never makes a lease. The expiry timer runs
 * only once someone subscribes to `lost$` (lock$ does); until then extend and release read the
 * clock themselves, so a lease nobody watches costs no timer. Subclasses send the extend and
 * release calls, and report a confirmed extend with `end.extended()`. Internal.
 *
 * @example
 * class MyLease extends TimedLease {
 *   async extend(ttlMs = this.ttlMs) { this.assertHeld(); const sentAt = ...; this.confirm(sentAt, ttlMs); }
 *   protected async doRelease() { ...; this.finish(); }
 * }
 * const lease = new MyLease(...);
 * if (!lease.confirm(sentAt, ttlMs)) undo(); // the acquire's reply came past its validity
 */
export abstract class TimedLease implements LockLease {
  protected readonly end = new LeaseEnd();
  private readonly validity: LeaseValidity;
  readonly lost$ = new Observable<never>((subscriber) => {
    if (this.end.held && this.validity.isValid()) this.validity.arm();
    return this.end.lost$.subscribe(subscriber);
  });
  private releasing: Promise<void> | undefined;

  constructor(
    readonly key: string,
    readonly fence: bigint,
    public ttlMs: number,
    protected readonly scheduler: SchedulerLike,
  ) {
    this.validity = new LeaseValidity(scheduler, () =>
      this.lose('TTL passed without a confirmed extend'),
    );
  }

  /** Milliseconds of proven validity left now. @internal */
  get remainingMs(): number {
    return this.validity.remainingMs;
  }

  /**
   * Records a request sent at `sentAt` that the server confirmed with `provenTtlMs` (acquire,
   * hand-off, extend). Returns false, changing nothing, if that proof has already run out or the
   * lease has ended. @internal
   */
  confirm(sentAt: number, provenTtlMs: number): boolean {
    return this.end.held && this.validity.confirm(sentAt, provenTtlMs);
  }

  /**
   * The lease reaches its caller now (its acquire began at `startedAt`): reported on `events`
   * from here on. While they are observed the expiry timer runs from now, so `lost` comes at
   * expiry even if nobody subscribes to `lost$`. @internal
   */
  announce(events: LockEvents, startedAt: number): void {
    this.end.announce(events, this, startedAt);
    if (events.observed && this.end.held && this.validity.isValid()) this.validity.arm();
  }

  abstract extend(ttlMs?: number): Promise<void>;

  /** Idempotent: every call gets the first call's outcome. */
  release(): Promise<void> {
    this.releasing ??= this.doRelease();
    return this.releasing;
  }

  protected abstract doRelease(): Promise<void>;

  /** Throws the end's error unless the lease is still held and within its validity. */
  protected assertHeld(): void {
    this.expireIfDue();
    if (!this.end.held) throw this.endedError();
  }

  protected finish(): void {
    this.validity.disarm();
    this.end.release();
  }

  protected lose(reason: string): void {
    if (!this.end.held) return; // a released lease cannot be lost any more
    this.validity.disarm();
    this.end.lose(new LockLostError(this.key, `lock "${this.key}" was lost: ${reason}`));
  }

  protected endedError(): Error {
    return this.end.lostError ?? new LockLostError(this.key, `lock "${this.key}" was released`);
  }

  /** Reads the clock: a lease past its validity is lost now (LeaseValidity calls `lose`). */
  protected expireIfDue(): void {
    if (this.end.held) this.validity.isValid();
  }
}
