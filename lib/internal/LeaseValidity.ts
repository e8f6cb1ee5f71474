import type { SchedulerLike, Subscription } from 'rxjs';
import { scheduleOnce } from './scheduler.js';

/**
 * Clock drift allowed between this process and the server, as the Redlock rule: 1 % of the TTL
 * plus 2 ms. It covers a local clock that runs up to 1 % slow and timers that fire a little
 * early; a larger drift is outside what any lease here promises.
 */
export const driftAllowanceMs = (ttlMs: number): number => Math.floor(ttlMs * 0.01) + 2;

/**
 * The one rule by which every Redis and etcd lease or leadership in this package decides it is
 * lost. A proof is a request SENT at `sentAt` that the server confirmed with a TTL of `ttlMs`: it
 * proves the lease until `sentAt + ttlMs − driftAllowanceMs(ttlMs)`, never later than the server
 * can expire it, whenever the reply arrives. Internal.
 *
 * - `isValid()` reads the clock itself, so a caller never trusts a timer alone.
 * - `arm()` starts one timer for the moment validity ends; when it fires and the check still
 *   finds time left (a timer that fires early, a clock that runs slow), it re-arms for the rest
 *   instead of giving up or waiting for some later event.
 * - `onExpired` runs once, the first time a check (timer or `isValid`) finds the proof run out.
 *
 * @example
 * const validity = new LeaseValidity(scheduler, () => lose('no confirmed renewal'));
 * validity.confirm(sentAt, ttlMs); // after the server said yes
 * validity.arm();
 * if (!validity.isValid()) throw lostError;
 */
export class LeaseValidity {
  private until = Number.NEGATIVE_INFINITY;
  private timer: Subscription | undefined;
  private armed = false;
  private expired = false;

  constructor(
    private readonly scheduler: SchedulerLike,
    private readonly onExpired: () => void,
  ) {}

  /** The scheduler time until which the lease is proven valid (−Infinity before any proof). */
  get validUntil(): number {
    return this.until;
  }

  /** Milliseconds of proven validity left now (0 once run out). */
  get remainingMs(): number {
    return Math.max(0, this.until - this.scheduler.now());
  }

  /** Where validity would end for a proof sent at `sentAt` with `ttlMs`. */
  static endOf(sentAt: number, ttlMs: number): number {
    return sentAt + ttlMs - driftAllowanceMs(ttlMs);
  }

  /**
   * Records a confirmed request sent at `sentAt` with TTL `ttlMs`. Returns false, changing
   * nothing, when that proof has already run out by now (a reply that came too late) or the
   * lease already expired; validity never moves backwards.
   */
  confirm(sentAt: number, ttlMs: number): boolean {
    if (this.expired) return false;
    const until = LeaseValidity.endOf(sentAt, ttlMs);
    if (until <= this.scheduler.now()) return false;
    if (until > this.until) {
      this.until = until;
      if (this.armed) this.schedule();
    }
    return true;
  }

  /** True while the proof holds; the first check that finds it run out calls `onExpired`. */
  isValid(): boolean {
    if (this.expired) return false;
    if (this.scheduler.now() < this.until) return true;
    this.expire();
    return false;
  }

  /** Starts watching the clock: `onExpired` runs when validity ends, re-checked, never early. */
  arm(): void {
    if (this.armed || this.expired) return;
    this.armed = true;
    this.schedule();
  }

  /** Stops the timer (the lease ended some other way). Idempotent. */
  disarm(): void {
    this.armed = false;
    this.timer?.unsubscribe();
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer?.unsubscribe();
    // At least 1 ms: a timer that fires early would otherwise spin at delay 0.
    const delay = Math.max(1, this.until - this.scheduler.now());
    this.timer = scheduleOnce(this.scheduler, delay, this.check);
  }

  private readonly check = (): void => {
    this.timer = undefined;
    if (!this.armed) return;
    if (this.isValid()) this.schedule();
  };

  private expire(): void {
    if (this.expired) return;
    this.expired = true;
    this.disarm();
    this.onExpired();
  }
}
