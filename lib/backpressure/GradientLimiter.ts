import { BehaviorSubject, Subject, type Observable, type SchedulerLike } from 'rxjs';
import type { ConcurrencyLimit, Permit, PermitOutcome } from '../fanout/ConcurrencyLimit.js';
import { EventStream } from '../internal/EventStream.js';
import { resolveScheduler } from '../internal/scheduler.js';
import { validateInteger, validateNumber, validateOptions } from '../internal/validate.js';
import type { ConcurrencyLimiterEvent } from './limiterEvents.js';

/** Options of {@link GradientLimiter} (unknown keys are rejected at creation). */
export interface GradientLimiterConfig {
  /** Starting limit, within [min, max]. */
  initial: number;
  /** Lowest limit, an integer >= 1. */
  min: number;
  /** Highest limit, an integer >= min. */
  max: number;
  /** How far latency may rise over its long-term average before the limit shrinks (default 1.5). */
  tolerance?: number;
  /** Share of each new estimate taken into the limit, in (0, 1] (default 0.2). */
  smoothing?: number;
  /** Permits allowed above what latency says the service holds, > 0 (default 4). */
  queueSize?: number;
  /** Windows (of `limit` samples each) in the long-term latency average (default 600). */
  longWindow?: number;
  /** Clock for call latencies and `events$` (default `asyncScheduler`). */
  scheduler?: SchedulerLike;
}

const CONFIG_KEYS = [
  'initial',
  'min',
  'max',
  'tolerance',
  'smoothing',
  'queueSize',
  'longWindow',
  'scheduler',
] as const;

/** Windows averaged plainly before the long-term average becomes exponential. */
const WARMUP_WINDOWS = 10;

/**
 * A latency-gradient concurrency limit after Netflix concurrency-limits' `Gradient2Limit`: it
 * shrinks the limit as soon as latency rises above its long-term average (a queue is building
 * in the service), before calls start to fail, where AIMD only backs off on failures.
 *
 * Each released permit (any outcome but 'ignored') is a latency sample. Samples are averaged
 * over windows of `limit` samples (about one round trip at full use, as Netflix's
 * `WindowedLimit` does), and each window with average latency `rtt` updates once:
 * `gradient = clamp(tolerance * longRtt / rtt, 0.5, 1)`,
 * `limit ← limit * (1 - smoothing) + (limit * gradient + queueSize) * smoothing`, within
 * [min, max], where `longRtt` is the average of the last `longWindow` windows. A window in
 * which less than half the limit was in use does not change the limit (the caller, not the
 * service, was the bottleneck). When latency falls well below the long-term average (after an
 * overload), that average decays so the limit can grow again.
 *
 * Limits: the long-term average is the baseline, so under overload that lasts longer than about
 * `longWindow` round trips it follows latency up and the limit creeps toward where AIMD sits
 * (Gradient2 behaves the same); it helps most when load varies faster than that. With a
 * service that queues (latency = base × load / capacity, 10 ms base, 100 ms timeout, see the
 * spec) it held mean latency at 35 ms where `AdaptiveLimiter` sat at 95 ms with 8 % timeouts.
 *
 * ```
 * latency:  10 10 10 10 | 30 30 30 | 10 10 10        (ms, one sample per call at full use)
 * limit:    grows        | shrinks  | grows again
 * ```
 *
 * @example
 * const limiter = new GradientLimiter({ initial: 20, min: 1, max: 500 });
 * requests$.pipe(fanOut((req) => callService(req), { concurrency: limiter }));
 */
export class GradientLimiter implements ConcurrencyLimit {
  readonly min: number;
  readonly max: number;
  readonly tolerance: number;
  readonly smoothing: number;
  readonly queueSize: number;
  readonly longWindow: number;
  private readonly scheduler: SchedulerLike;
  private inflightCount = 0;
  private estimate: number;
  private longRtt = 0;
  private windows = 0;
  private window = { samples: 0, rttSum: 0, inflight: 0 };
  private readonly limitSubject: BehaviorSubject<number>;
  private readonly availableSubject = new Subject<void>();
  private readonly events: EventStream<ConcurrencyLimiterEvent>;

  /** The limit now, then every change. */
  readonly limit$: Observable<number>;
  /** Emits after every release: `tryAcquire` may succeed again. */
  readonly available$: Observable<void> = this.availableSubject.asObservable();
  /**
   * What the limiter decides, as it decides it (hot, no replay; `at` is `scheduler.now()`):
   * `rejected` when `tryAcquire` returns null; `released {outcome, durationMs}` when a permit
   * comes back, then `limit {limit, previous}` if the window that release closed changed the
   * limit (before `limit$` and `available$` emit). As with `AdaptiveLimiter`, only permits taken
   * while someone subscribed report `released`.
   */
  readonly events$: Observable<ConcurrencyLimiterEvent>;

  constructor(config: GradientLimiterConfig) {
    const options = validateOptions('GradientLimiter config', config, CONFIG_KEYS);
    this.min = validateInteger('min', options.min, 1);
    this.max = validateInteger('max', options.max, this.min);
    this.tolerance = validateNumber('tolerance', options.tolerance ?? 1.5, { min: 1 });
    this.smoothing = validateNumber('smoothing', options.smoothing ?? 0.2, {
      min: 0,
      exclusiveMin: true,
      max: 1,
    });
    this.queueSize = validateNumber('queueSize', options.queueSize ?? 4, {
      min: 0,
      exclusiveMin: true,
    });
    this.longWindow = validateInteger('longWindow', options.longWindow ?? 600, WARMUP_WINDOWS);
    this.scheduler = resolveScheduler(options.scheduler);
    this.estimate = validateInteger('initial', options.initial, this.min, { max: this.max });
    this.limitSubject = new BehaviorSubject(this.estimate);
    this.limit$ = this.limitSubject.asObservable();
    this.events = new EventStream(this.scheduler);
    this.events$ = this.events.events$;
  }

  /** The current maximum number of permits out at once. */
  get limit(): number {
    return this.limitSubject.value;
  }

  /** Permits out now. */
  get inflight(): number {
    return this.inflightCount;
  }

  /** A permit, or null when `inflight >= limit`. Release it when the call ends. */
  tryAcquire(): Permit | null {
    if (this.inflightCount >= this.limit) {
      if (this.events.observed) this.events.emit({ type: 'rejected' });
      return null;
    }
    const inflight = ++this.inflightCount;
    const start = this.scheduler.now();
    // Same rule as AdaptiveLimiter (which has no start time otherwise): report only the permits
    // taken while observed, so a subscriber never sees a release of a permit it did not see go.
    const reported = this.events.observed;
    let released = false;
    return {
      release: (outcome: PermitOutcome) => {
        if (released) return;
        released = true;
        this.inflightCount--;
        const elapsed = this.scheduler.now() - start;
        if (reported && this.events.observed) {
          this.events.emit({ type: 'released', outcome, durationMs: elapsed });
        }
        if (outcome !== 'ignored') this.sample(elapsed, inflight);
        this.availableSubject.next();
      },
    };
  }

  /** Collects a window of `limit` samples (about one round trip at full use), then updates. */
  private sample(elapsed: number, inflight: number): void {
    this.window.samples++;
    this.window.rttSum += Math.max(elapsed, 1e-3); // a zero latency (virtual time) divides by zero
    this.window.inflight = Math.max(this.window.inflight, inflight);
    if (this.window.samples < this.limit) return;
    const rtt = this.window.rttSum / this.window.samples;
    const busiest = this.window.inflight;
    this.window = { samples: 0, rttSum: 0, inflight: 0 };
    this.update(rtt, busiest);
  }

  private update(rtt: number, inflight: number): void {
    this.windows++;
    this.longRtt +=
      (rtt - this.longRtt) / (this.windows <= WARMUP_WINDOWS ? this.windows : this.longWindow);
    if (this.longRtt / rtt > 2) this.longRtt *= 0.95; // recovering from overload: forget it
    if (inflight < this.estimate / 2) return;
    const gradient = Math.min(1, Math.max(0.5, (this.tolerance * this.longRtt) / rtt));
    const wanted = this.estimate * gradient + this.queueSize;
    const next = this.estimate * (1 - this.smoothing) + wanted * this.smoothing;
    this.estimate = Math.min(this.max, Math.max(this.min, next));
    const limit = Math.floor(this.estimate);
    if (limit === this.limit) return;
    if (this.events.observed) this.events.emit({ type: 'limit', limit, previous: this.limit });
    this.limitSubject.next(limit);
  }
}
