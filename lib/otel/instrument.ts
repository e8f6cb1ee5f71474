import { metrics, type Attributes, type Meter, type Tracer } from '@opentelemetry/api';
import { Subscription } from 'rxjs';
import { validateOptions } from '../internal/validate.js';
import { instrumentBreaker } from './instrumentBreaker.js';
import { instrumentElection } from './instrumentElection.js';
import { instrumentConcurrencyLimiter, instrumentRateLimiter } from './instrumentLimiter.js';
import { instrumentLocks } from './instrumentLocks.js';
import { instrumentPool } from './instrumentPool.js';
import { validateAttributes, validateMeter, validateTracer } from './options.js';
import type { Recording } from './record.js';
import {
  targetKind,
  type BreakerTarget,
  type ConcurrencyLimiterTarget,
  type ElectionTarget,
  type InstrumentTarget,
  type LockTarget,
  type PoolTarget,
  type RateLimiterTarget,
} from './targets.js';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** Where the metrics go. Default `metrics.getMeter('rxjs-concurrency')`, read when called. */
  meter?: Meter;
  /** With a tracer, lock holds and terms led become spans. Default: no spans. */
  tracer?: Tracer;
  /**
   * Put on every data point and span, e.g. `{ 'rxc.breaker.name': 'payments' }`. Two targets
   * recorded on one meter need distinct attributes: their gauges would otherwise report one
   * series, and their counters would add up.
   */
  attributes?: Attributes;
}

/**
 * Records what `target` does, from its `events$`, as the OpenTelemetry metrics of DESIGN
 * "Observability": a CircuitBreaker (`rxc.breaker.*`), an AdaptiveLimiter, GradientLimiter,
 * SlidingWindowLimiter or RedisRateLimiter (`rxc.limiter.*`), a lock backend (`rxc.lock.*`), an
 * election backend (`rxc.election.*`) or a thread pool (`rxc.pool.crashes`). The kind is
 * recognised by the target's methods, so this entry never loads ioredis or etcd3.
 *
 * Unsubscribing stops it: the event subscriptions end, gauge callbacks are removed (the next
 * collection reports none of this target's gauges), and spans still open are ended with
 * `rxc.instrument.stopped: true`. Counters and histograms keep what they counted, as the SDK
 * keeps every instrument of a meter.
 *
 * The default meter is read when `instrument` is called: register the SDK's MeterProvider first
 * (the API hands out a no-op meter before that, for good).
 *
 * @example
 * const breaker = new CircuitBreaker({ failureThreshold: 5 });
 * const recording = instrument(breaker, { attributes: { 'rxc.breaker.name': 'payments' } });
 * // ... later
 * recording.unsubscribe();
 */
export function instrument(target: InstrumentTarget, options?: InstrumentOptions): Subscription {
  const kind = targetKind(target);
  const checked = validateOptions('instrument options', options, ['meter', 'tracer', 'attributes']);
  const recording: Recording = {
    meter:
      checked.meter === undefined
        ? metrics.getMeter('rxjs-concurrency')
        : validateMeter(checked.meter),
    tracer: checked.tracer === undefined ? undefined : validateTracer(checked.tracer),
    attributes: validateAttributes('attributes', checked.attributes),
    subscription: new Subscription(),
  };
  try {
    switch (kind) {
      case 'circuit breaker':
        instrumentBreaker(target as BreakerTarget, recording);
        break;
      case 'concurrency limiter':
        instrumentConcurrencyLimiter(target as ConcurrencyLimiterTarget, recording, kind);
        break;
      case 'rate limiter':
        instrumentRateLimiter(target as RateLimiterTarget, recording, kind);
        break;
      case 'lock backend':
        instrumentLocks(target as LockTarget, recording);
        break;
      case 'election backend':
        instrumentElection(target as ElectionTarget, recording);
        break;
      case 'thread pool':
        instrumentPool(target as PoolTarget, recording);
        break;
    }
  } catch (error) {
    recording.subscription.unsubscribe();
    throw error;
  }
  return recording.subscription;
}
