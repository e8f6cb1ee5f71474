import type { EventStream } from '../../internal/EventStream.js';
import type { ElectionEvent } from '../ElectionBackend.js';

/**
 * The `events$` reports of one campaign (one election name and candidate), shared by every
 * election backend. Each method tests `observed` first, so an unwatched backend builds no event.
 * Internal.
 *
 * Every backend calls these before the campaign stream's own notification of the same change:
 * `elected` before the `{isLeader: true}` emission, `lost` before the `{isLeader: false}` one;
 * `resigned` is reported during the unsubscribe that resigns (the campaign emits nothing then).
 */
export class TermEvents {
  constructor(
    private readonly events: EventStream<ElectionEvent>,
    private readonly name: string,
    private readonly candidate: string,
  ) {}

  elected(term: bigint): void {
    if (this.events.observed)
      this.events.emit({ type: 'elected', name: this.name, candidate: this.candidate, term });
  }

  resigned(term: bigint): void {
    if (this.events.observed) this.events.emit({ type: 'resigned', name: this.name, term });
  }

  /**
   * `why` builds the error, when one is known, that says why (expired validity, key gone,
   * backend unreachable): called only if someone listens.
   */
  lost(term: bigint, why?: () => unknown): void {
    if (!this.events.observed) return;
    const error = why?.();
    if (error === undefined) this.events.emit({ type: 'lost', name: this.name, term });
    else this.events.emit({ type: 'lost', name: this.name, term, error });
  }
}
