import { Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { LockLostError } from '../errors.js';
import { scheduleOnce } from '../internal/scheduler.js';
import { LeaseEnd } from '../lock/LeaseEnd.js';
import type { LockLease } from '../lock/LockBackend.js';

/**
 * The shortest TTL a Redis lease accepts: below it the drift allowance (1 % + 2 ms) leaves a
 * proof valid for a moment at best, and `lock$` would renew it every millisecond.
 */
export const MIN_TTL_MS = 10;

/** Client clock drift allowance, as Redlock: 1% of the TTL plus 2 ms. */
export const driftMs = (ttlMs: number): number => Math.floor(ttlMs * 0.01) + 2;

/**
 * The validity half of a Redis lease: valid until (time the acquire/extend was SENT) + ttl −
 * drift. The expiry timer runs only once someone subscribes to `lost$` (lock$ does); until then
 * extend and release check the clock themselves, so a lease nobody watches costs no timer.
 * Subclasses send the extend and release calls. Internal.
 *
 * @example
 * class MyLease extends TimedLease {
 *   async extend(ttlMs = this.ttlMs) { this.assertHeld(); const sentAt = ...; this.prolong(ttlMs, sentAt); }
 *   protected async doRelease() { ...; this.finish(); }
 * }
 */
export abstract class TimedLease implements LockLease {
  protected readonly end = new LeaseEnd();
  readonly lost$ = new Observable<never>((subscriber) => {
    this.expireIfDue();
    if (this.end.held && this.expiry === undefined) this.scheduleExpiry();
    return this.end.lost$.subscribe(subscriber);
  });
  private expiry: Subscription | undefined;
  private releasing: Promise<void> | undefined;

  constructor(
    readonly key: string,
    readonly fence: bigint,
    public ttlMs: number,
    /** Until when the lease is proven valid: for an acquire, its send time + ttl − drift. */
    private validUntil: number,
    protected readonly scheduler: SchedulerLike,
  ) {}

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

  /**
   * Records an extend to `ttlMs` sent at `sentAt` and confirmed now. Returns false (and changes
   * nothing) if its own validity has already passed.
   */
  protected prolong(ttlMs: number, sentAt: number): boolean {
    const validUntil = sentAt + ttlMs - driftMs(ttlMs);
    if (validUntil <= this.scheduler.now()) return false;
    this.ttlMs = ttlMs;
    this.validUntil = Math.max(this.validUntil, validUntil);
    if (this.expiry) this.scheduleExpiry();
    return true;
  }

  protected finish(): void {
    this.expiry?.unsubscribe();
    this.end.release();
  }

  protected lose(reason: string): void {
    this.expiry?.unsubscribe();
    this.end.lose(new LockLostError(this.key, `lock "${this.key}" was lost: ${reason}`));
  }

  protected endedError(): Error {
    return this.end.lostError ?? new LockLostError(this.key, `lock "${this.key}" was released`);
  }

  protected expireIfDue(): void {
    if (this.end.held && this.scheduler.now() >= this.validUntil) {
      this.lose('TTL passed without a confirmed extend');
    }
  }

  private scheduleExpiry(): void {
    this.expiry?.unsubscribe();
    this.expiry = scheduleOnce(this.scheduler, this.validUntil - this.scheduler.now(), () => {
      if (this.scheduler.now() >= this.validUntil) {
        this.lose('TTL passed without a confirmed extend');
      } else this.scheduleExpiry();
    });
  }
}
