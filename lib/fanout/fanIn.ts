import { Observable, type ObservableInput, type ObservableInputTuple, type Subscriber } from 'rxjs';
import { Inner, type InnerOwner } from './internal/Inner.js';
import { subscribeInner } from './internal/subscribeInner.js';

/**
 * Merges sources into one stream: the fan-in half of fan-out/fan-in. Values are emitted as
 * they arrive; it completes when every source has completed and errors at the first error.
 * Unlike `merge`, a trailing number or scheduler is never taken as an option, and it subscribes
 * with one small object per source. Given one Observable, it returns that Observable itself.
 *
 * ```
 * a:               --1-----3--|
 * b:               ----2------4--|
 * fanIn(a, b):     --1-2---3--4--|
 * ```
 *
 * @example
 * fanIn(worker1$, worker2$, worker3$).subscribe((result) => console.log(result));
 */
export function fanIn<A extends readonly unknown[]>(
  ...sources: [...ObservableInputTuple<A>]
): Observable<A[number]> {
  // One Observable: merging it with nothing is itself, so return it (as RxJS's `merge` does:
  // same identity, no extra subscriber per value).
  if (sources.length === 1 && sources[0] instanceof Observable) {
    return sources[0];
  }
  return new Observable<A[number]>((subscriber) => {
    new FanInRun<A[number]>(subscriber, sources.length).start(
      sources as readonly ObservableInput<A[number]>[],
    );
  });
}

class FanInRun<T> implements InnerOwner<T> {
  constructor(
    readonly destination: Subscriber<T>,
    private remaining: number,
  ) {}

  start(sources: readonly ObservableInput<T>[]): void {
    const { destination } = this;
    if (this.remaining === 0) destination.complete();
    for (let i = 0; i < sources.length && !destination.closed; i++) {
      const inner = new Inner<T>(this, null, true);
      destination.add(inner); // linked first: a synchronous source stops when we are closed
      subscribeInner(sources[i], inner);
    }
  }

  innerDone(): void {
    if (--this.remaining === 0) this.destination.complete();
  }

  innerFailed(_inner: Inner<T>, error: unknown): void {
    this.destination.error(error);
  }
}
