/** fanIn: merge semantics, completes when every source has, never recursive. */
import { merge, of, take, type ObservableInput } from 'rxjs';
import { marbles } from '../lib/testing/index.js';
import { fanIn } from '../lib/fanout/index.js';

const operators: Record<
  string,
  (...sources: ObservableInput<string>[]) => ReturnType<typeof merge<string[]>>
> = {
  merge: (...sources) => merge(...sources),
  fanIn: (...sources) => fanIn(...sources),
};

for (const [name, combine] of Object.entries(operators)) {
  describe(`${name}: the merge cases`, () => {
    it(
      'emits values of every source as they come; completes when all have',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const a = cold('  --1-----3--|   ');
        const b = hot('   ----2------4--|');
        expectObservable(combine(a, b)).toBe('--1-2---3--4--|');
        expectSubscriptions(a.subscriptions).toBe('^----------!   ');
        expectSubscriptions(b.subscriptions).toBe('^-------------!');
      }),
    );

    it(
      'errors at the first error and unsubscribes the others',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('  --1---#');
        const b = cold('  -2-------3|');
        expectObservable(combine(a, b)).toBe('-21---#');
        expectSubscriptions(a.subscriptions).toBe('^-----!');
        expectSubscriptions(b.subscriptions).toBe('^-----!');
      }),
    );

    it(
      'early unsubscription tears every source down',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('  --1----3|');
        const b = cold('  ---2------|');
        expectObservable(combine(a, b), '----!').toBe('--12-');
        expectSubscriptions(a.subscriptions).toBe('^---!');
        expectSubscriptions(b.subscriptions).toBe('^---!');
      }),
    );

    it(
      'synchronous sources and arrays emit in order; a downstream take stops the rest',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const c = cold('  -----x|');
        expectObservable(combine(of('a', 'b'), ['c'], c)).toBe('(abc)x|');
        expectObservable(combine(of('a', 'b'), ['c'], c).pipe(take(2))).toBe('(ab|)');
        // take(2) completes during the first source: the third is never subscribed.
        expectSubscriptions(c.subscriptions).toBe(['^-----!']);
      }),
    );

    it(
      'no sources: completes at once',
      marbles(({ expectObservable }) => {
        expectObservable(combine()).toBe('|');
      }),
    );
  });
}
