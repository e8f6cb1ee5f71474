/** fanIn: merge semantics, completes when every source has, never recursive. */
import { expect } from 'chai';
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

describe('fanIn: one source', () => {
  it(
    'one Observable: returns it (merge does the same), so its marbles and subscriptions are its own',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const a = cold('--1--2--|');
      expect(fanIn(a)).to.equal(a);
      expect(merge(a)).to.equal(a);
      expectObservable(fanIn(a)).toBe('--1--2--|');
      expectSubscriptions(a.subscriptions).toBe('^-------!');
    }),
  );

  it(
    'one array or promise-like input: converted, with merge semantics',
    marbles(({ expectObservable }) => {
      expectObservable(fanIn(['a', 'b'])).toBe('(ab|)');
    }),
  );
});
