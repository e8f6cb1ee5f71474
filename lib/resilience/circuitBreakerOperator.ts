import {
  Observable,
  Subscription,
  from,
  type MonoTypeOperatorFunction,
  type ObservableInput,
  type Observer,
  type Subscriber,
} from 'rxjs';
import { validateFunction, validateOneOf, validateOptions } from '../internal/validate.js';
import { CircuitBreaker } from './CircuitBreaker.js';

/** Options of the {@link circuitBreaker} operator. */
export interface CircuitBreakerOperatorConfig<T> {
  /**
   * Replaces the error of a refused call (`BrokenCircuitError`) or the source's error before
   * success (after the breaker recorded it). Return `throwError(() => err)` to let one through.
   */
  fallback?: (error: unknown) => ObservableInput<T>;
  /**
   * What counts as success: completion (default) or the first value. After a first-value
   * success, a later error of the source passes through unrecorded and unreplaced.
   */
  successOn?: 'complete' | 'first-value';
}

/**
 * Guards each subscription to the source (one call) with a {@link CircuitBreaker}.
 *
 * Subscribing takes a permit synchronously; a refused call errors at once with
 * `BrokenCircuitError` (or switches to the fallback) without subscribing to the source. An
 * error is recorded, then rethrown or replaced by the fallback; completion (or the first value,
 * with `successOn: 'first-value'`) is recorded as success; unsubscribing before either returns
 * the permit and records nothing. Its calls report on the breaker's `events$` as `execute`'s do.
 *
 * Behaves like `defer` + `catchError`, written as one Observable with one subscriber object per
 * call (no SafeSubscriber, no closures) because it sits on every request.
 *
 * ```
 * breaker { failureThreshold: 1, openMs: 5 }
 * call at 0:  -#              failure recorded → open
 * call at 2:    #             refused at subscribe (BrokenCircuitError); source not subscribed
 * call at 6:        -a|       half-open trial; its completion closes the circuit
 * with fallback: () => of('x'), the call at 2 is   (x|)
 * ```
 *
 * @example
 * const breaker = new CircuitBreaker({ failureThreshold: 5, openMs: 10_000 });
 * const price$ = defer(() => http.get('/price')).pipe(
 *   timeout(2_000),
 *   circuitBreaker(breaker, { fallback: () => of(lastKnownPrice) }),
 * );
 */
export function circuitBreaker<T>(
  breaker: CircuitBreaker,
  config?: CircuitBreakerOperatorConfig<T>,
): MonoTypeOperatorFunction<T> {
  if (!(breaker instanceof CircuitBreaker)) {
    throw new TypeError('circuitBreaker needs a CircuitBreaker instance');
  }
  const options = validateOptions('circuitBreaker config', config, ['fallback', 'successOn']);
  const fallback =
    options.fallback === undefined
      ? null
      : validateFunction<(error: unknown) => ObservableInput<T>>('fallback', options.fallback);
  const onFirstValue =
    validateOneOf('successOn', options.successOn ?? 'complete', ['complete', 'first-value']) ===
    'first-value';

  return (source) =>
    new Observable<T>((subscriber) => {
      const permit = breaker.tryAcquire();
      if (permit < 0) {
        fail(subscriber, breaker.rejection(), fallback);
        return;
      }
      const call = new BreakerCall(subscriber, breaker, permit, onFirstValue, fallback);
      // Linked before subscribing, so a synchronous source stops once the subscriber closes.
      subscriber.add(call);
      source.subscribe(call);
    });
}

/**
 * One guarded call. Being both an Observer and a Subscription, RxJS uses it as the source's
 * subscriber directly; it carries the permit and reports exactly one outcome.
 */
class BreakerCall<T> extends Subscription implements Observer<T> {
  private settled = false;
  private readonly startedAt: number;

  constructor(
    private readonly destination: Subscriber<T>,
    private readonly breaker: CircuitBreaker,
    private readonly permit: number,
    private readonly onFirstValue: boolean,
    private readonly fallback: ((error: unknown) => ObservableInput<T>) | null,
  ) {
    super();
    this.startedAt = breaker.callStart();
  }

  next(value: T): void {
    if (this.closed) return;
    if (this.onFirstValue && !this.settled) {
      this.settled = true;
      this.breaker.onSuccess(this.permit, this.startedAt);
    }
    this.destination.next(value);
  }

  error(error: unknown): void {
    if (this.closed) return;
    const settled = this.settled;
    this.settled = true;
    this.unsubscribe();
    if (settled) {
      this.destination.error(error);
      return;
    }
    this.breaker.onFailure(this.permit, error, this.startedAt);
    fail(this.destination, error, this.fallback);
  }

  complete(): void {
    if (this.closed) return;
    const settled = this.settled;
    this.settled = true;
    this.unsubscribe();
    if (!settled) this.breaker.onSuccess(this.permit, this.startedAt);
    this.destination.complete();
  }

  override unsubscribe(): void {
    if (!this.settled) {
      this.settled = true;
      this.breaker.release(this.permit);
    }
    super.unsubscribe();
  }
}

function fail<T>(
  subscriber: Subscriber<T>,
  error: unknown,
  fallback: ((error: unknown) => ObservableInput<T>) | null,
): void {
  if (fallback === null) {
    subscriber.error(error);
    return;
  }
  let replacement: Observable<T>;
  try {
    replacement = from(fallback(error));
  } catch (fallbackError) {
    subscriber.error(fallbackError);
    return;
  }
  subscriber.add(replacement.subscribe(subscriber));
}
