import { from, Observable, type ObservableInput, type Observer, type Subscription } from 'rxjs';

/** What `subscribeInner` needs: an observer that is also the subscription it feeds. */
export type InnerSink<R> = Observer<R> & Subscription;

/**
 * Subscribes `sink` to the result of a `work` call with as little per-inner allocation as RxJS
 * allows. `sink` is a `Subscription` with `next`/`error`/`complete`, which RxJS accepts as a
 * subscriber as is (no `SafeSubscriber` wrapper); arrays are replayed in a loop and native
 * promises are followed with one `then` instead of through `from()`. Anything else goes through
 * `from()`, so the semantics are exactly `mergeMap`'s `innerFrom`; an input `from()` rejects
 * errors `sink`, as mergeMap does.
 */
export function subscribeInner<R>(input: ObservableInput<R>, sink: InnerSink<R>): void {
  if (input instanceof Observable) {
    input.subscribe(sink);
  } else if (Array.isArray(input)) {
    const values = input as readonly R[];
    for (let i = 0; i < values.length && !sink.closed; i++) sink.next(values[i]);
    sink.complete();
  } else if (input instanceof Promise) {
    (input as Promise<R>).then(
      (value) => {
        sink.next(value);
        sink.complete();
      },
      (error: unknown) => sink.error(error),
    );
  } else {
    let observable: Observable<R>;
    try {
      observable = from(input);
    } catch (error) {
      sink.error(error);
      return;
    }
    observable.subscribe(sink);
  }
}

/** Calls `work(value, index)` and subscribes `sink` to its result; a throwing `work` errors `sink`. */
export function subscribeWork<T, R>(
  work: (value: T, index: number) => ObservableInput<R>,
  value: T,
  index: number,
  sink: InnerSink<R>,
): void {
  let input: ObservableInput<R>;
  try {
    input = work(value, index);
  } catch (error) {
    sink.error(error);
    return;
  }
  subscribeInner(input, sink);
}
