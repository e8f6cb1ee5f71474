/**
 * `rxjs-concurrency/otel`: OpenTelemetry metrics and spans for the primitives' `events$`.
 * Needs the optional peer `@opentelemetry/api`; the core entry never imports it.
 */
export { instrument, type InstrumentOptions } from './instrument.js';
export { traced, type TracedOptions } from './traced.js';
export type {
  BreakerEventLike,
  BreakerTarget,
  ConcurrencyLimiterTarget,
  ElectionTarget,
  InstrumentTarget,
  LockTarget,
  PoolTarget,
  RateLimiterTarget,
} from './targets.js';
