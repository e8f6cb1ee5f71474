import type { Recording } from './record.js';
import { observeGauge, onEvents, outcomeAttributes } from './record.js';
import {
  eventsOf,
  type ConcurrencyLimiterTarget,
  type RateLimiterTarget,
  type TargetKind,
} from './targets.js';

function decisionsCounter(recording: Recording) {
  return recording.meter.createCounter('rxc.limiter.decisions', {
    description: 'Admission decisions of the limiter, by outcome',
    unit: '{decision}',
  });
}

function limitGauge(recording: Recording, limiter: { readonly limit: number }): void {
  observeGauge(
    recording,
    'rxc.limiter.limit',
    { description: 'Current limit: concurrent permits, or permits per window', unit: '{permit}' },
    (result) => result.observe(limiter.limit, recording.attributes),
  );
}

/**
 * An AdaptiveLimiter or GradientLimiter: `rxc.limiter.decisions` (an admitted permit is counted
 * when it is released, the first moment its events report it: permits still held are not yet
 * counted, and permits taken before `instrument` are never counted) and `rxc.limiter.limit`,
 * read from `limiter.limit` at each collection.
 */
export function instrumentConcurrencyLimiter(
  limiter: ConcurrencyLimiterTarget,
  recording: Recording,
  kind: TargetKind,
): void {
  const events$ = eventsOf(limiter, kind);
  const decisions = decisionsCounter(recording);
  const byOutcome = outcomeAttributes(recording.attributes, ['admitted', 'rejected']);
  onEvents(recording, events$, (event) => {
    if (event.type === 'released') decisions.add(1, byOutcome.admitted);
    else if (event.type === 'rejected') decisions.add(1, byOutcome.rejected);
  });
  limitGauge(recording, limiter);
}

/**
 * A SlidingWindowLimiter or RedisRateLimiter: `rxc.limiter.decisions` per `tryAcquire` and
 * `rxc.limiter.limit` (the configured permits per window). A RedisRateLimiter's `forKey` key is
 * not an attribute: keys are usually per user or client, too many series for a metric.
 */
export function instrumentRateLimiter(
  limiter: RateLimiterTarget,
  recording: Recording,
  kind: TargetKind,
): void {
  const events$ = eventsOf(limiter, kind);
  const decisions = decisionsCounter(recording);
  const byOutcome = outcomeAttributes(recording.attributes, ['admitted', 'rejected']);
  onEvents(recording, events$, (event) => decisions.add(1, byOutcome[event.type]));
  limitGauge(recording, limiter);
}
