/**
 * fanOut, unordered with default options, is marble-for-marble `mergeMap(work, n)`: every case
 * below runs unchanged (same expected values, same subscription logs) against mergeMap itself,
 * fanOut with a number, and fanOut with `{ concurrency }`.
 */
import { expect } from 'chai';
import {
  map,
  mergeMap,
  of,
  take,
  type Observable,
  type ObservableInput,
  type OperatorFunction,
} from 'rxjs';
import { marbles } from '../lib/testing/index.js';
import { fanOut } from '../lib/fanout/index.js';

const mapTo =
  <V>(value: V) =>
  (source: Observable<unknown>): Observable<V> =>
    source.pipe(map(() => value));

type Work = (value: string, index: number) => ObservableInput<string>;
type Operator = (work: Work, concurrency: number) => OperatorFunction<string, string>;

const operators: Record<string, Operator> = {
  'mergeMap(work, n)': (work, n) => mergeMap(work, n),
  'fanOut(work, n)': (work, n) => fanOut(work, n),
  'fanOut(work, { concurrency: n })': (work, n) => fanOut(work, { concurrency: n }),
};

for (const [name, op] of Object.entries(operators)) {
  describe(`${name}: the mergeMap cases`, () => {
    it(
      'cold outer, cold inners, unbounded: inner values interleave as they come',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('     --1--2|          ');
        const b = cold('        -3---4|       ');
        const outer = cold(' a--b------|      ');
        const outerSubs = '  ^---------!      ';
        const aSubs = '      ^-----!          ';
        const bSubs = '      ---^-----!       ';
        const inners: Record<string, typeof a> = { a, b };
        expectObservable(outer.pipe(op((v) => inners[v], Infinity))).toBe('--1-32--4-|');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(a.subscriptions).toBe(aSubs);
        expectSubscriptions(b.subscriptions).toBe(bSubs);
      }),
    );

    it(
      'concurrency 1: the next inner starts in the frame the previous completes',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const a = cold('     --1--2|              ');
        const b = cold('           -3|            ');
        const c = cold('             --4|         ');
        const outer = hot('  a-b-c------------|   ');
        const outerSubs = '  ^----------------!   ';
        const aSubs = '      ^-----!              ';
        const bSubs = '      ------^-!            ';
        const cSubs = '      --------^--!         ';
        const inners: Record<string, typeof a> = { a, b, c };
        expectObservable(outer.pipe(op((v) => inners[v], 1))).toBe('--1--2-3--4------|');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(a.subscriptions).toBe(aSubs);
        expectSubscriptions(b.subscriptions).toBe(bSubs);
        expectSubscriptions(c.subscriptions).toBe(cSubs);
      }),
    );

    it(
      'concurrency 2: the third waits for the first to complete, outer completes first',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const a = cold('     ----1|         ');
        const b = cold('      --2--3|       ');
        const c = cold('          --4|      ');
        const outer = hot('  ab-c|          ');
        const outerSubs = '  ^---!          ';
        const aSubs = '      ^----!         ';
        const bSubs = '      -^-----!       ';
        const cSubs = '      -----^--!      ';
        const inners: Record<string, typeof a> = { a, b, c };
        expectObservable(outer.pipe(op((v) => inners[v], 2))).toBe('---21-34|');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(a.subscriptions).toBe(aSubs);
        expectSubscriptions(b.subscriptions).toBe(bSubs);
        expectSubscriptions(c.subscriptions).toBe(cSubs);
      }),
    );

    it(
      'hot outer with values before subscription: only later ones are mapped',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const inner = cold('  -x|    ');
        const outer = hot(' a-^-b--c-|  ');
        const outerSubs = '   ^------!  ';
        const innerSubs = ['  --^-!     ', '  -----^-!  '];
        expectObservable(outer.pipe(op((v) => inner.pipe(mapTo(v)), 2))).toBe('---b--c|');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(inner.subscriptions).toBe(innerSubs);
      }),
    );

    it(
      'outer error: forwarded at once, running inners unsubscribed, waiting values dropped',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const inner = cold('  ---x|   ');
        const outer = hot('   ab--#   ');
        const outerSubs = '   ^---!   ';
        const innerSubs = '   ^---!   ';
        expectObservable(outer.pipe(op((v) => inner.pipe(mapTo(v)), 1))).toBe('---a#');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(inner.subscriptions).toBe(innerSubs);
      }),
    );

    it(
      'inner error: forwarded at once, outer and the other inners unsubscribed',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const a = cold('     --1------2|');
        const b = cold('      ---#      ');
        const outer = hot('  ab-------c-|');
        const outerSubs = '  ^---!       ';
        const aSubs = '      ^---!       ';
        const bSubs = '      -^--!       ';
        const inners: Record<string, typeof a> = { a, b };
        expectObservable(outer.pipe(op((v) => inners[v], 3))).toBe('--1-#');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(a.subscriptions).toBe(aSubs);
        expectSubscriptions(b.subscriptions).toBe(bSubs);
      }),
    );

    it(
      'work throws: the error is forwarded in that frame',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const inner = cold('  -x-|');
        const outer = hot('   a-b--|');
        const outerSubs = '   ^-!   ';
        const innerSubs = '   ^-!   ';
        const work = (v: string) => {
          if (v === 'b') throw new Error('bad b');
          return inner;
        };
        expectObservable(outer.pipe(op(work, 2))).toBe('-x#', undefined, new Error('bad b'));
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(inner.subscriptions).toBe(innerSubs);
      }),
    );

    it(
      'early unsubscription tears down the outer and every running inner',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const inner = cold('  --x--y--|');
        const outer = hot('   a--b--c--|');
        const unsub = '       -----!    ';
        const outerSubs = '   ^----!    ';
        const innerSubs = ['  ^----!    ', '  ---^-!    '];
        expectObservable(outer.pipe(op((v) => inner.pipe(mapTo(v)), 2)), unsub).toBe('--a--');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(inner.subscriptions).toBe(innerSubs);
      }),
    );

    it(
      'unsubscription from a downstream take ends the outer and inners in that frame',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const inner = cold('  -x-y|');
        const outer = hot('   a-b--|');
        const outerSubs = '   ^--!  ';
        const innerSubs = ['  ^--!  ', '  --^!  '];
        expectObservable(
          outer.pipe(
            op((v) => inner.pipe(mapTo(v)), 2),
            take(3),
          ),
        ).toBe('-a-(ab|)');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(inner.subscriptions).toBe(innerSubs);
      }),
    );

    it(
      'synchronous inners (arrays and of) emit in the frame of their outer value',
      marbles(({ hot, expectObservable, expectSubscriptions }) => {
        const outer = hot('   a---b---|');
        const outerSubs = '   ^-------!';
        const work: Work = (v, i) => (i % 2 ? of(v, v.toUpperCase()) : [v, v.toUpperCase()]);
        expectObservable(outer.pipe(op(work, 1))).toBe('(aA)(bB)|');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
      }),
    );

    it(
      'passes the index of each work call',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const inner = cold('  --x|');
        const outer = cold('  abc|');
        const outerSubs = '   ^--!';
        const innerSubs = ['  ^--!   ', '  -^--!  ', '  ---^--!'];
        expectObservable(outer.pipe(op((v, i) => inner.pipe(mapTo(`${v}${i}`)), 2))).toBe(
          '--xy-z|',
          { x: 'a0', y: 'b1', z: 'c2' },
        );
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(inner.subscriptions).toBe(innerSubs);
      }),
    );

    it(
      'empty outer completes at once; never outer never completes',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const empty = cold('  |');
        const never = cold('  -');
        expectObservable(empty.pipe(op(() => of('x'), 1))).toBe('|');
        expectObservable(never.pipe(op(() => of('x'), 1))).toBe('-');
        expectSubscriptions(empty.subscriptions).toBe('(^!)');
        expectSubscriptions(never.subscriptions).toBe('^');
      }),
    );

    it(
      'an inner that never completes holds its slot forever',
      marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const a = cold('     -1-');
        const b = cold('     -2|');
        const outer = hot('  ab|');
        const outerSubs = '  ^-!';
        const inners: Record<string, typeof a> = { a, b };
        expectObservable(outer.pipe(op((v) => inners[v], 1))).toBe('-1-');
        expectSubscriptions(outer.subscriptions).toBe(outerSubs);
        expectSubscriptions(a.subscriptions).toBe('^');
        expectSubscriptions(b.subscriptions).toBe([]);
      }),
    );
  });
}

describe('fanOut marble parity self-check', () => {
  it('has the three operators', () => {
    expect(Object.keys(operators)).to.have.length(3);
  });
});
