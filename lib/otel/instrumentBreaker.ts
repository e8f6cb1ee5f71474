import type { Recording } from './record.js';
import { observeGauge, onEvents, outcomeAttributes, seconds, SECONDS_BUCKETS } from './record.js';
import { eventsOf, type BreakerTarget } from './targets.js';

/** `rxc.breaker.state` values: ordered by how much traffic the circuit lets through. */
const STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

/**
 * A CircuitBreaker's calls by outcome (`rxc.breaker.calls`), the duration of admitted calls that
 * ended in success or failure (`rxc.breaker.call.duration`, with `rxc.outcome` so failing and
 * succeeding calls can be told apart), and its state, read from `breaker.state` at each collection
 * (`rxc.breaker.state`: 0 closed, 1 half-open, 2 open).
 */
export function instrumentBreaker(breaker: BreakerTarget, recording: Recording): void {
  const events$ = eventsOf(breaker, 'circuit breaker');
  const { meter, attributes } = recording;
  const calls = meter.createCounter('rxc.breaker.calls', {
    description: 'Calls through the circuit breaker, by outcome',
    unit: '{call}',
  });
  const duration = meter.createHistogram('rxc.breaker.call.duration', {
    description: 'Duration of admitted calls, from admission to their outcome',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const byOutcome = outcomeAttributes(attributes, ['success', 'failure', 'ignored', 'rejected']);
  onEvents(recording, events$, (event) => {
    switch (event.type) {
      case 'success':
      case 'failure':
        calls.add(1, byOutcome[event.type]);
        duration.record(seconds(event.durationMs), byOutcome[event.type]);
        break;
      case 'ignored':
      case 'rejected':
        calls.add(1, byOutcome[event.type]);
        break;
      default:
      // 'state': the gauge reads the state itself at collection time.
    }
  });
  observeGauge(
    recording,
    'rxc.breaker.state',
    { description: 'Circuit state: 0 closed, 1 half-open, 2 open' },
    (result) => result.observe(STATE_VALUE[breaker.state], attributes),
  );
}
