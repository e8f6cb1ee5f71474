import type { Observable } from 'rxjs';
import type { ConcurrencyLimiterEvent, RateLimiterEvent } from '../backpressure/limiterEvents.js';
import type { ElectionEvent } from '../election/ElectionBackend.js';
import type { LockEvent } from '../lock/LockBackend.js';
import type { PoolEvent } from '../threads/poolEvents.js';

/**
 * The shapes `instrument` accepts, described by the members it detects and reads rather than by
 * class: the otel entry must not import the Redis or etcd backends (that would load ioredis or
 * etcd3), and a backend of your own with the same members works too. `events$` is optional in
 * the types because it is optional on `LockBackend` and `ElectionBackend`; `instrument` rejects
 * a target without one when it is called.
 */

/** What `CircuitBreaker.events$` emits (the breaker's `BreakerEvent`, DESIGN Observability). */
export type BreakerEventLike =
  | { readonly type: 'success'; readonly at: number; readonly durationMs: number }
  | {
      readonly type: 'failure';
      readonly at: number;
      readonly durationMs: number;
      readonly error: unknown;
    }
  | { readonly type: 'ignored'; readonly at: number; readonly error: unknown }
  | { readonly type: 'rejected'; readonly at: number; readonly state: string }
  | { readonly type: 'state'; readonly at: number; readonly from: string; readonly to: string };

/** A `CircuitBreaker`: has `execute` and `state$`. */
export interface BreakerTarget {
  readonly state: 'closed' | 'open' | 'half-open';
  readonly state$: Observable<'closed' | 'open' | 'half-open'>;
  execute(fn: () => unknown): Promise<unknown>;
  readonly events$?: Observable<BreakerEventLike>;
}

/** An `AdaptiveLimiter` or `GradientLimiter`: `tryAcquire()` plus `limit` and `inflight`. */
export interface ConcurrencyLimiterTarget {
  readonly limit: number;
  readonly inflight: number;
  tryAcquire(): unknown;
  readonly events$?: Observable<ConcurrencyLimiterEvent>;
}

/** A `SlidingWindowLimiter` or `RedisRateLimiter`: `tryAcquire` and a fixed `limit`. */
export interface RateLimiterTarget {
  readonly limit: number;
  tryAcquire(key: string): unknown;
  readonly events$?: Observable<RateLimiterEvent>;
}

/** A `LockBackend` (MemoryLocks, RedisLocks, EtcdLocks): has `acquire`. */
export interface LockTarget {
  acquire(key: string, options?: never): PromiseLike<unknown>;
  readonly events$?: Observable<LockEvent>;
}

/** An `ElectionBackend` (MemoryElection, RedisElection, EtcdElection): `campaign` and `observe`. */
export interface ElectionTarget {
  campaign(name: string, candidate: string, options?: never): Observable<unknown>;
  observe(name: string): Observable<unknown>;
  readonly events$?: Observable<ElectionEvent>;
}

/** A `ThreadPool`: `map` and `close`. */
export interface PoolTarget {
  map(config?: never): unknown;
  close(): PromiseLike<void>;
  readonly events$?: Observable<PoolEvent>;
}

/** Anything `instrument` can record. */
export type InstrumentTarget =
  | BreakerTarget
  | ConcurrencyLimiterTarget
  | RateLimiterTarget
  | LockTarget
  | ElectionTarget
  | PoolTarget;

export type TargetKind =
  | 'circuit breaker'
  | 'concurrency limiter'
  | 'rate limiter'
  | 'lock backend'
  | 'election backend'
  | 'thread pool';

const KNOWN =
  'a CircuitBreaker, AdaptiveLimiter, GradientLimiter, SlidingWindowLimiter, RedisRateLimiter, ' +
  'lock backend, election backend or thread pool';

const has = (target: object, member: string): boolean =>
  typeof (target as Record<string, unknown>)[member] === 'function';

/**
 * The kind of `target`, from the members present. Order matters: a breaker has `tryAcquire` too
 * (for its operator), so it is recognised by `execute` + `state$` first.
 */
export function targetKind(target: unknown): TargetKind {
  if (typeof target !== 'object' || target === null) {
    throw new TypeError(`target must be ${KNOWN}, got ${String(target)}`);
  }
  if (has(target, 'campaign') && has(target, 'observe')) return 'election backend';
  if (has(target, 'acquire')) return 'lock backend';
  if (has(target, 'execute') && 'state$' in target) return 'circuit breaker';
  if (has(target, 'tryAcquire')) {
    return typeof (target as { inflight?: unknown }).inflight === 'number'
      ? 'concurrency limiter'
      : 'rate limiter';
  }
  if (has(target, 'map') && has(target, 'close')) return 'thread pool';
  throw new TypeError(`target must be ${KNOWN}, got an object without any of their methods`);
}

/** `target.events$`, or a TypeError naming what the target was taken for. */
export function eventsOf<E>(target: { readonly events$?: Observable<E> }, kind: TargetKind) {
  const events$ = target.events$;
  if (typeof (events$ as { subscribe?: unknown } | undefined)?.subscribe !== 'function') {
    throw new TypeError(`target (a ${kind}) has no events$ Observable to record`);
  }
  return events$ as Observable<E>;
}
