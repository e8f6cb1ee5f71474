import type { Observable } from 'rxjs';

/** How a unit of work ended, as reported to a concurrency limiter. */
export type PermitOutcome = 'success' | 'dropped' | 'ignored';

/** One admitted unit of work. Release it exactly once; later calls are ignored. */
export interface Permit {
  release(outcome: PermitOutcome): void;
}

/**
 * A concurrency limit that may change while running (e.g. `AdaptiveLimiter`). `fanOut` takes a
 * permit per inner, releases it with the inner's outcome ('success' on complete, 'dropped' on
 * error, 'ignored' on unsubscribe), and retries waiting work whenever `available$` emits.
 * Lowering `limit` never cancels work: in-flight inners finish and `tryAcquire` refuses until
 * `inflight` is under the new limit. One limit may be shared by several fanOut subscriptions.
 * With `ordered: true`, fanOut also counts finished-but-not-yet-emitted inners against `limit`,
 * so its reorder buffer stays bounded.
 *
 * @example
 * source$.pipe(fanOut(callService, { concurrency: new AdaptiveLimiter({ initial: 8, min: 1, max: 64 }) }));
 */
export interface ConcurrencyLimit {
  /** The current maximum number of permits out at once. */
  readonly limit: number;
  /** Permits out now (across every user of this limit). */
  readonly inflight: number;
  /** A permit, or null when `inflight >= limit`. */
  tryAcquire(): Permit | null;
  /** Emits whenever `tryAcquire` may succeed again: after a release or a raised limit. */
  readonly available$: Observable<void>;
}
