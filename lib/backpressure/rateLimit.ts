import {
  Observable,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
  type Subscriber,
  type Subscription,
} from 'rxjs';
import { BufferOverflowError, RateLimitExceededError } from '../errors.js';
import { resolveScheduler, scheduleOnce } from '../internal/scheduler.js';
import {
  validateFunction,
  validateInteger,
  validateObject,
  validateOneOf,
  validateOptions,
} from '../internal/validate.js';
import { Fifo } from './Fifo.js';
import {
  isSyncRateLimiter,
  type AsyncRateLimiter,
  type RateLimitDecision,
  type RateLimiter,
} from './RateLimiter.js';
import { validateWindowLimit, WindowRing } from './SlidingWindowLimiter.js';
import { SourceObserver } from './SourceObserver.js';

/** What `rateLimit` does with a value the limiter refuses. */
export type RateLimitOverflow = 'drop' | 'queue' | 'error';

interface RateLimitOptions {
  /**
   * 'drop' (default) discards refused values; 'queue' holds them and emits each, in order, as
   * soon as the limiter admits it; 'error' fails with `RateLimitExceededError` (`retryAfterMs`).
   */
  overflow?: RateLimitOverflow;
  /** Bound of the 'queue' policy (default 1000); one more waiting value → `BufferOverflowError`. */
  maxQueue?: number;
  /** Drives the queue's timers (and the clock of a `{limit, windowMs}` limiter). */
  scheduler?: SchedulerLike;
}

/**
 * Options of {@link rateLimit}: either `limit` (an integer in [1, 2^31 − 1]) and `windowMs`
 * (> 0, at most 2^31 − 1): a fresh sliding window per subscription, as `SlidingWindowLimiter`;
 * or a `limiter` shared by every subscription that uses it. Unknown keys are rejected.
 */
export type RateLimitConfig = RateLimitOptions &
  (
    | { limit: number; windowMs: number; limiter?: never }
    | { limiter: RateLimiter | AsyncRateLimiter; limit?: never; windowMs?: never }
  );

/** Decisions an async limiter may have outstanding under 'drop' or 'error' (beyond: overflow). */
export const MAX_PENDING_DECISIONS = 1024;

const DEFAULT_MAX_QUEUE = 1000;

/** Every key of either shape of {@link RateLimitConfig}; which combine is checked after. */
const CONFIG_KEYS = ['limit', 'windowMs', 'limiter', 'overflow', 'maxQueue', 'scheduler'] as const;

/**
 * Lets at most `limit` values through in any `windowMs` (an exact sliding window), or as many
 * as a given limiter admits. Refused values are dropped, queued or turned into an error.
 *
 * ```
 * source:                        a b c d - - - e |
 * rateLimit({limit: 2, windowMs: 4}):
 *   overflow 'drop'              a b - - - - - e |
 *   overflow 'queue'             a b - - c d - - (e|)  (c, d, e wait for earlier permits)
 *   overflow 'error'             a b #                 (RateLimitExceededError, retryAfterMs 2)
 * ```
 *
 * Completion waits for queued values; an error from the source is passed on at once and drops
 * the queue; unsubscribing drops the queue and cancels its timer. With an async limiter (e.g.
 * Redis) values keep their order: under 'queue' one decision is outstanding at a time; under
 * 'drop' and 'error' decisions are pipelined, at most {@link MAX_PENDING_DECISIONS} at once.
 *
 * @example
 * clicks$.pipe(rateLimit({ limit: 5, windowMs: 1_000, overflow: 'queue', maxQueue: 50 }))
 */
export function rateLimit<T>(config: RateLimitConfig): MonoTypeOperatorFunction<T> {
  const options = validateOptions('rateLimit config', config, CONFIG_KEYS);
  const overflow = validateOneOf('overflow', options.overflow ?? 'drop', [
    'drop',
    'queue',
    'error',
  ] as const);
  if (options.maxQueue !== undefined && overflow !== 'queue') {
    throw new RangeError(`maxQueue applies only to overflow 'queue', got overflow '${overflow}'`);
  }
  const maxQueue = validateInteger('maxQueue', options.maxQueue ?? DEFAULT_MAX_QUEUE, 1, {
    allowInfinity: true,
  });
  const scheduler = resolveScheduler(options.scheduler);
  const makeLimiter = limiterFactory(options, scheduler);

  return (source) =>
    new Observable<T>((subscriber) => {
      const limiter = makeLimiter();
      const gate = { subscriber, overflow, maxQueue, scheduler };
      const handlers = isSyncRateLimiter(limiter)
        ? syncGate(gate, limiter)
        : overflow === 'queue'
          ? asyncQueueGate(gate, limiter)
          : asyncPipelineGate(gate, limiter);
      const sourceObserver = new SourceObserver(handlers);
      subscriber.add(sourceObserver);
      source.subscribe(sourceObserver);
    });
}

function limiterFactory(
  options: RateLimitConfig,
  scheduler: SchedulerLike,
): () => RateLimiter | AsyncRateLimiter {
  const { limiter, limit, windowMs } = options;
  if (limiter !== undefined) {
    if (limit !== undefined || windowMs !== undefined) {
      throw new TypeError('give either limiter or limit and windowMs, not both');
    }
    validateObject('limiter', limiter);
    validateFunction('limiter.tryAcquire', (limiter as Partial<RateLimiter>).tryAcquire);
    return () => limiter;
  }
  // Checked once here; each subscription gets its own window, which costs the same whatever
  // `limit` is (its ring grows only with the permits held).
  const [checkedLimit, checkedWindowMs] = validateWindowLimit(limit, windowMs);
  return () => new WindowRing(checkedLimit, checkedWindowMs, scheduler);
}

interface Gate<T> {
  subscriber: Subscriber<T>;
  overflow: RateLimitOverflow;
  maxQueue: number;
  scheduler: SchedulerLike;
}

interface SourceHandlers<T> {
  next(value: T): void;
  error(err: unknown): void;
  complete(): void;
}

/** A synchronous limiter: decide at once; queued values wait on one timer at a time. */
function syncGate<T>(
  { subscriber, overflow, maxQueue, scheduler }: Gate<T>,
  limiter: RateLimiter,
): SourceHandlers<T> {
  const queue = new Fifo<T>();
  let timer: Subscription | undefined;
  let sourceDone = false;
  let draining = false;

  const drain = (): void => {
    timer = undefined;
    if (draining) return; // re-entered from a value we are emitting; the outer loop goes on
    draining = true;
    while (queue.size > 0 && !subscriber.closed && limiter.tryAcquire()) {
      subscriber.next(queue.shift() as T);
    }
    draining = false;
    if (subscriber.closed) return;
    if (queue.size > 0) timer ??= scheduleOnce(scheduler, limiter.msUntilNext(), drain);
    else if (sourceDone) subscriber.complete();
  };

  subscriber.add(() => {
    timer?.unsubscribe();
    queue.clear();
  });

  return {
    next(value) {
      if (queue.size === 0 && limiter.tryAcquire()) {
        subscriber.next(value);
        return;
      }
      if (overflow === 'drop') return;
      if (overflow === 'error') {
        subscriber.error(new RateLimitExceededError(limiter.msUntilNext()));
        return;
      }
      if (queue.size >= maxQueue) {
        subscriber.error(new BufferOverflowError(maxQueue));
        return;
      }
      queue.push(value);
      timer ??= scheduleOnce(scheduler, limiter.msUntilNext(), drain);
    },
    error: (err) => subscriber.error(err),
    complete() {
      sourceDone = true;
      if (queue.size === 0) subscriber.complete();
    },
  };
}

/** An async limiter under 'queue': ask for the oldest value only; a refusal waits retryAfterMs. */
function asyncQueueGate<T>(
  { subscriber, maxQueue, scheduler }: Gate<T>,
  limiter: AsyncRateLimiter,
): SourceHandlers<T> {
  const queue = new Fifo<T>();
  let timer: Subscription | undefined;
  let asking = false;
  let sourceDone = false;

  const onDecision = (decision: RateLimitDecision): void => {
    asking = false;
    if (subscriber.closed) return;
    if (!decision.allowed) {
      timer = scheduleOnce(scheduler, decision.retryAfterMs, () => {
        timer = undefined;
        ask();
      });
      return;
    }
    const value = queue.shift() as T;
    subscriber.next(value);
    if (queue.size === 0 && sourceDone) subscriber.complete();
    else ask();
  };

  const ask = (): void => {
    if (asking || timer !== undefined || queue.size === 0 || subscriber.closed) return;
    asking = true;
    limiter.tryAcquire().then(onDecision, (err: unknown) => subscriber.error(err));
  };

  subscriber.add(() => {
    timer?.unsubscribe();
    queue.clear();
  });

  return {
    next(value) {
      if (queue.size >= maxQueue) {
        subscriber.error(new BufferOverflowError(maxQueue));
        return;
      }
      queue.push(value);
      ask();
    },
    error: (err) => subscriber.error(err),
    complete() {
      sourceDone = true;
      if (queue.size === 0) subscriber.complete();
    },
  };
}

interface PendingDecision<T> {
  value: T;
  decision: RateLimitDecision | undefined;
}

/** An async limiter under 'drop' or 'error': ask for every value at once, answer in order. */
function asyncPipelineGate<T>(
  { subscriber, overflow }: Gate<T>,
  limiter: AsyncRateLimiter,
): SourceHandlers<T> {
  const pending = new Fifo<PendingDecision<T>>();
  let sourceDone = false;

  const flush = (): void => {
    while (!subscriber.closed && pending.peek()?.decision !== undefined) {
      const { value, decision } = pending.shift() as { value: T; decision: RateLimitDecision };
      if (decision.allowed) subscriber.next(value);
      else if (overflow === 'error') {
        subscriber.error(new RateLimitExceededError(decision.retryAfterMs));
      }
    }
    if (pending.size === 0 && sourceDone) subscriber.complete();
  };

  subscriber.add(() => pending.clear());

  return {
    next(value) {
      if (pending.size >= MAX_PENDING_DECISIONS) {
        if (overflow === 'error') subscriber.error(new BufferOverflowError(MAX_PENDING_DECISIONS));
        return;
      }
      const entry: PendingDecision<T> = { value, decision: undefined };
      pending.push(entry);
      limiter.tryAcquire().then(
        (decision) => {
          entry.decision = decision;
          flush();
        },
        (err: unknown) => subscriber.error(err),
      );
    },
    error: (err) => subscriber.error(err),
    complete() {
      sourceDone = true;
      if (pending.size === 0) subscriber.complete();
    },
  };
}
