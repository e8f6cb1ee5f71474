/**
 * What `ThreadPool.events$` emits, discriminated on `type`; `at` is `Date.now()`-based pool time
 * in ms. `crashed`: a worker died (`error` as its items failed with); `replaced`: a new worker
 * took the crashed one's place.
 */
export type PoolEvent =
  | { readonly type: 'crashed'; readonly at: number; readonly error: Error }
  | { readonly type: 'replaced'; readonly at: number };
