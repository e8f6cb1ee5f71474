import type { SchedulerLike } from 'rxjs';
import type { CircuitWindow } from './circuitBreakerConfig.js';

/**
 * Pre-aggregated outcome counts for the failure-rate rule. Totals are kept up to date on every
 * record: an evicted slot or bucket is subtracted, so reading the rate is O(1) and memory is
 * fixed (never a list of samples).
 */
export interface OutcomeWindow {
  /** Calls recorded in the window. */
  readonly calls: number;
  /** Failures (errors and slow calls) among them. */
  readonly failures: number;
  record(failed: boolean): void;
  /** Drops what has aged out (time windows) so `calls` and `failures` are current. */
  settle(): void;
  clear(): void;
}

/** The window a (validated) `window` option describes; null without one. */
export function createOutcomeWindow(
  window: CircuitWindow | undefined,
  scheduler: SchedulerLike,
): OutcomeWindow | null {
  if (window === undefined) return null;
  return window.type === 'count'
    ? new CountWindow(window.size)
    : new TimeWindow(window.ms, window.buckets, scheduler);
}

/** The rate rule: the window holds `minimumCalls` calls and `failureRate` of them failed. */
export function rateReached(
  window: OutcomeWindow | null,
  minimumCalls: number,
  failureRate: number,
): boolean {
  return (
    window !== null && window.calls >= minimumCalls && window.failures >= failureRate * window.calls
  );
}

/** The last `size` calls: a ring of one byte per call. */
export class CountWindow implements OutcomeWindow {
  calls = 0;
  failures = 0;
  private readonly ring: Uint8Array;
  private next = 0;

  constructor(size: number) {
    this.ring = new Uint8Array(size);
  }

  record(failed: boolean): void {
    const ring = this.ring;
    const i = this.next;
    if (this.calls === ring.length) this.failures -= ring[i];
    else this.calls++;
    const outcome = failed ? 1 : 0;
    ring[i] = outcome;
    this.failures += outcome;
    this.next = i + 1 === ring.length ? 0 : i + 1;
  }

  settle(): void {}

  clear(): void {
    // Slots are overwritten in order from 0 and only subtracted once the ring is full again.
    this.calls = 0;
    this.failures = 0;
    this.next = 0;
  }
}

/** The last `ms` milliseconds in `buckets` equal buckets, each holding two counters. */
export class TimeWindow implements OutcomeWindow {
  calls = 0;
  failures = 0;
  private readonly bucketCalls: Float64Array;
  private readonly bucketFailures: Float64Array;
  private readonly width: number;
  private head = Number.NEGATIVE_INFINITY;

  constructor(
    ms: number,
    private readonly buckets: number,
    private readonly scheduler: SchedulerLike,
  ) {
    this.width = ms / buckets;
    this.bucketCalls = new Float64Array(buckets);
    this.bucketFailures = new Float64Array(buckets);
  }

  record(failed: boolean): void {
    const slot = this.advance();
    this.bucketCalls[slot]++;
    this.calls++;
    if (failed) {
      this.bucketFailures[slot]++;
      this.failures++;
    }
  }

  settle(): void {
    this.advance();
  }

  clear(): void {
    this.bucketCalls.fill(0);
    this.bucketFailures.fill(0);
    this.calls = 0;
    this.failures = 0;
  }

  /** Moves the head bucket to now, subtracting each bucket it reuses; returns the head slot. */
  private advance(): number {
    const epoch = Math.floor(this.scheduler.now() / this.width);
    const { buckets } = this;
    if (epoch > this.head) {
      const steps = Math.min(epoch - this.head, buckets);
      for (let i = 1; i <= steps; i++) {
        const slot = slotOf(epoch - steps + i, buckets);
        this.calls -= this.bucketCalls[slot];
        this.failures -= this.bucketFailures[slot];
        this.bucketCalls[slot] = 0;
        this.bucketFailures[slot] = 0;
      }
      this.head = epoch;
    }
    return slotOf(this.head, buckets);
  }
}

const slotOf = (epoch: number, buckets: number): number => ((epoch % buckets) + buckets) % buckets;
