import type { Attributes, Tracer } from '@opentelemetry/api';
import type { LockEvent } from '../lock/LockBackend.js';
import type { Recording } from './record.js';
import {
  endWithError,
  onEvents,
  OpenSpans,
  outcomeAttributes,
  seconds,
  SECONDS_BUCKETS,
} from './record.js';
import { eventsOf, type LockTarget } from './targets.js';

/** Span attributes of one lease hold. */
export const LOCK_KEY = 'rxc.lock.key';
export const LOCK_FENCE = 'rxc.lock.fence';

/**
 * A lock backend: `rxc.lock.acquire.duration` (from the `acquire` call to the grant or the
 * timeout, `rxc.outcome` acquired | timeout), `rxc.lock.hold.duration` (grant to release; a
 * lost lease is counted in `rxc.lock.lost` instead) and `rxc.lock.lost`. Lock keys are no metric
 * attribute (often one per order or row: unbounded series); they are on the spans.
 *
 * With a tracer, each hold is a span `rxc.lock.hold` from `acquired` to `released` (status
 * UNSET) or `lost` (status ERROR, the loss recorded as exception), with `rxc.lock.key` and
 * `rxc.lock.fence` (decimal string: a bigint has no OTel attribute type). Hold spans are roots: a
 * hold outlives the code that asked for it and a waiter is granted from inside the previous
 * holder's release, whose context would be the wrong parent.
 */
export function instrumentLocks(locks: LockTarget, recording: Recording): void {
  const events$ = eventsOf(locks, 'lock backend');
  const { meter, attributes } = recording;
  const acquireDuration = meter.createHistogram('rxc.lock.acquire.duration', {
    description: 'Time from acquire to the grant or the timeout',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const holdDuration = meter.createHistogram('rxc.lock.hold.duration', {
    description: 'Time from the grant to the release of a lease',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const lost = meter.createCounter('rxc.lock.lost', {
    description: 'Leases lost before their release (expired, deleted, backend unreachable)',
    unit: '{lease}',
  });
  const byOutcome = outcomeAttributes(attributes, ['acquired', 'timeout']);
  const spans = recording.tracer === undefined ? undefined : new HoldSpans(recording);
  onEvents(recording, events$, (event) => {
    switch (event.type) {
      case 'acquired':
        acquireDuration.record(seconds(event.waitedMs), byOutcome.acquired);
        spans?.acquired(event);
        break;
      case 'timeout':
        acquireDuration.record(seconds(event.waitedMs), byOutcome.timeout);
        break;
      case 'released':
        holdDuration.record(seconds(event.heldMs), attributes);
        spans?.released(event);
        break;
      case 'lost':
        lost.add(1, attributes);
        spans?.lost(event);
        break;
      default:
        spans?.extended(event);
    }
  });
}

type Of<T extends LockEvent['type']> = Extract<LockEvent, { type: T }>;

const holdId = (event: { key: string; fence: bigint }) => `${event.fence}\u0000${event.key}`;

class HoldSpans {
  readonly #open: OpenSpans;
  readonly #tracer: Tracer;
  readonly #attributes: Attributes;

  constructor(recording: Recording) {
    this.#open = new OpenSpans(recording);
    this.#tracer = recording.tracer!;
    this.#attributes = recording.attributes;
  }

  acquired(event: Of<'acquired'>): void {
    const attributes = {
      ...this.#attributes,
      [LOCK_KEY]: event.key,
      [LOCK_FENCE]: event.fence.toString(),
    };
    this.#open.open(
      holdId(event),
      this.#tracer.startSpan('rxc.lock.hold', { attributes, root: true }),
    );
  }

  extended(event: Of<'extended'>): void {
    this.#open.get(holdId(event))?.addEvent('rxc.lock.extended');
  }

  released(event: Of<'released'>): void {
    this.#open.take(holdId(event))?.end();
  }

  lost(event: Of<'lost'>): void {
    const span = this.#open.take(holdId(event));
    if (span !== undefined) endWithError(span, event.error);
  }
}
