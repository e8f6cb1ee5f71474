import { from, Observable, Subscription, type ObservableInput, type OperatorFunction } from 'rxjs';
import { validateFunction } from '../internal/validate.js';
import type { Leadership } from './ElectionBackend.js';

/**
 * Runs leader-only work while the source says this candidate leads: subscribes to
 * `work(term)` when leadership is gained and unsubscribes it at once when it is lost (switchMap
 * semantics over leadership). A new term restarts the work with that term; repeated emissions of
 * the same term leave it running. Work that completes on its own is not restarted until the
 * next term. When the source completes or errors, the work is stopped too: without a live
 * leadership stream nobody can vouch that this candidate still leads.
 *
 * ```
 * leadership: -t------f---T----|     t = {isLeader: true, term: 1n}, T = term 2n, f = not leader
 * work(1n):    a-b-c-d^              (unsubscribed on f)
 * work(2n):               x-y-z^     (unsubscribed on completion of the source)
 * result:     -a-b-c-d----x-y-z|
 * ```
 *
 * @example
 * election.campaign('billing', hostname).pipe(
 *   whileLeader((term) => interval(60_000).pipe(concatMap(() => runBilling({ fence: term })))),
 * ).subscribe();
 */
export function whileLeader<T, L extends Leadership = Leadership>(
  work: (term: bigint, leadership: L) => ObservableInput<T>,
): OperatorFunction<L, T> {
  validateFunction('work', work);
  return (source) =>
    new Observable<T>((subscriber) => {
      let running: Subscription | undefined;
      let runningTerm: bigint | undefined;
      const stopWork = () => {
        const stopping = running;
        running = runningTerm = undefined;
        stopping?.unsubscribe();
      };
      subscriber.add(stopWork);
      subscriber.add(
        source.subscribe({
          next: (leadership) => {
            if (!leadership.isLeader) return stopWork();
            if (runningTerm === leadership.term) return;
            stopWork();
            let input: ObservableInput<T>;
            try {
              input = work(leadership.term, leadership);
            } catch (err) {
              return subscriber.error(err);
            }
            const current = new Subscription();
            running = current;
            runningTerm = leadership.term;
            // Linked before subscribing, so a synchronous error or stop closes it at once.
            current.add(
              from(input).subscribe({
                next: (value) => subscriber.next(value),
                error: (err) => subscriber.error(err),
                complete: () => {
                  if (running === current) running = undefined; // keep runningTerm: no restart
                },
              }),
            );
          },
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      );
    });
}
