/** fanOutByKey frees per-key state as soon as a key is idle: no growth with many keys. */
import { expect } from 'chai';
import { Observable, of, range, Subject, timer, map, type ObservableInput } from 'rxjs';
import { validateConcurrency } from '../../lib/fanout/internal/concurrency.js';
import { KeyedRun } from '../../lib/fanout/internal/KeyedRun.js';

/** fanOutByKey's subscribe function, keeping the run so the spec can read its lanes. */
function keyed<T, K, R>(
  source: Observable<T>,
  keyOf: (v: T) => K,
  work: (v: T) => ObservableInput<R>,
  concurrency: number,
): { output: Observable<R>; runs: KeyedRun<T, K, R>[] } {
  const runs: KeyedRun<T, K, R>[] = [];
  const output = new Observable<R>((subscriber) => {
    const run = new KeyedRun(subscriber, {
      keyOf,
      work,
      concurrency: validateConcurrency(concurrency, false),
      maxBuffered: Infinity,
      overflow: 'error',
    });
    runs.push(run);
    run.start(source);
  });
  return { output, runs };
}

describe('fanOutByKey: per-key state', () => {
  it('10,000 distinct keys with synchronous work: the lane map never holds more than one', () => {
    let peak = 0;
    const { output, runs } = keyed(
      range(0, 10_000),
      (v) => `key-${v}`,
      (v) => {
        peak = Math.max(peak, runs[0].lanes.size);
        return of(v);
      },
      4,
    );
    let count = 0;
    output.subscribe(() => count++);
    expect(count).to.equal(10_000);
    expect(peak).to.equal(1);
    expect(runs[0].lanes.size).to.equal(0);
  });

  it('10,000 distinct keys with async work: the lane map returns to 0 when done', async () => {
    const { output, runs } = keyed(
      range(0, 10_000),
      (v) => v,
      (v) => timer(0).pipe(map(() => v)),
      64,
    );
    let peak = 0;
    const values: number[] = [];
    await new Promise<void>((resolve, reject) =>
      output.subscribe({
        next: (v) => {
          values.push(v);
          peak = Math.max(peak, runs[0].lanes.size);
        },
        error: reject,
        complete: resolve,
      }),
    );
    expect(values).to.have.length(10_000);
    expect(peak).to.be.greaterThan(1);
    expect(runs[0].lanes.size).to.equal(0);
  });

  it('a key with a backlog keeps one lane until its backlog is done, then frees it', () => {
    const source = new Subject<string>();
    const gates = new Map<string, Subject<void>>();
    const work = (v: string) => {
      const gate = new Subject<void>();
      gates.set(v, gate);
      return gate.pipe(map(() => v));
    };
    const { output, runs } = keyed(source, (v) => v[0], work, 2);
    const seen: string[] = [];
    output.subscribe((v) => seen.push(v));
    for (const v of ['a1', 'a2', 'a3', 'b1']) source.next(v);
    expect(runs[0].lanes.size).to.equal(2);
    for (const v of ['a1', 'b1', 'a2', 'a3']) {
      gates.get(v)!.next();
      gates.get(v)!.complete();
    }
    expect(seen).to.deep.equal(['a1', 'b1', 'a2', 'a3']);
    expect(runs[0].lanes.size).to.equal(0);
  });

  it('unsubscribing clears every lane', () => {
    const { output, runs } = keyed(
      range(0, 100),
      (v) => v % 7,
      () => new Subject<number>(),
      3,
    );
    const subscription = output.subscribe();
    expect(runs[0].lanes.size).to.equal(7);
    subscription.unsubscribe();
    expect(runs[0].lanes.size).to.equal(0);
  });
});
