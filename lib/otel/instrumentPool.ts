import type { Recording } from './record.js';
import { onEvents } from './record.js';
import { eventsOf, type PoolTarget } from './targets.js';

/** A thread pool: `rxc.pool.crashes`, one per worker that died (the pool replaces it). */
export function instrumentPool(pool: PoolTarget, recording: Recording): void {
  const events$ = eventsOf(pool, 'thread pool');
  const crashes = recording.meter.createCounter('rxc.pool.crashes', {
    description: 'Worker crashes (each crashed worker is replaced)',
    unit: '{crash}',
  });
  onEvents(recording, events$, (event) => {
    if (event.type === 'crashed') crashes.add(1, recording.attributes);
  });
}
