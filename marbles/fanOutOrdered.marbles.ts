/** fanOut with `ordered: true`: inners run in parallel, their values come out in input order. */
import { of } from 'rxjs';
import { marbles } from '../lib/testing/index.js';
import { fanOut } from '../lib/fanout/index.js';

describe('fanOut ordered', () => {
  it(
    'subscribes inners in parallel but emits their values in input order',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     -----1|');
      const b = cold('      -2|   ');
      const c = cold('       --3| ');
      const outer = hot('  abc-|  ');
      const inners: Record<string, typeof a> = { a, b, c };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: 3, ordered: true }));
      expectObservable(result).toBe('-----1(23|)');
      expectSubscriptions(outer.subscriptions).toBe('^---!');
      expectSubscriptions(a.subscriptions).toBe('^-----!');
      expectSubscriptions(b.subscriptions).toBe('-^-!');
      expectSubscriptions(c.subscriptions).toBe('--^--!');
    }),
  );

  it(
    'the JSDoc example: fanOut(work, 2) vs ordered, same inner subscriptions',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     ----1|  ');
      const b = cold('      --2--3|');
      const c = cold('          --4|');
      const outer = hot('  ab-c|   ');
      const inners: Record<string, typeof a> = { a, b, c };
      expectObservable(outer.pipe(fanOut((v) => inners[v], 2))).toBe('---21-34|');
      const ordered = outer.pipe(fanOut((v) => inners[v], { concurrency: 2, ordered: true }));
      expectObservable(ordered).toBe('----1234|');
      expectSubscriptions(a.subscriptions).toBe(['^----!', '^----!']);
      expectSubscriptions(b.subscriptions).toBe(['-^-----!', '-^-----!']);
      expectSubscriptions(c.subscriptions).toBe(['-----^--!', '-----^--!']);
    }),
  );

  it(
    'keeps the values of a multi-value inner together, after the values of the one before',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     --1---2|    ');
      const b = cold('      -3-4|      ');
      const outer = hot('  ab|         ');
      const inners: Record<string, typeof a> = { a, b };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: 2, ordered: true }));
      expectObservable(result).toBe('--1---2(34|)');
      expectSubscriptions(outer.subscriptions).toBe('^-!');
      expectSubscriptions(a.subscriptions).toBe('^------!');
      expectSubscriptions(b.subscriptions).toBe('-^---!');
    }),
  );

  it(
    'flushes what a running inner held when it becomes the head, then lets it emit live',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     ----1|   ');
      const b = cold('      -2----3|');
      const outer = hot('  ab|      ');
      const inners: Record<string, typeof a> = { a, b };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: 2, ordered: true }));
      expectObservable(result).toBe('----12-3|');
      expectSubscriptions(a.subscriptions).toBe('^----!');
      expectSubscriptions(b.subscriptions).toBe('-^------!');
    }),
  );

  it(
    'a finished inner keeps its slot until its values are out (bounded reorder buffer)',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     ------1|  ');
      const b = cold('      -2|      ');
      const c = cold('            -3|');
      const outer = hot('  abc|      ');
      const inners: Record<string, typeof a> = { a, b, c };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: 2, ordered: true }));
      expectObservable(result).toBe('------123|');
      expectSubscriptions(a.subscriptions).toBe('^------!');
      expectSubscriptions(b.subscriptions).toBe('-^-!');
      expectSubscriptions(c.subscriptions).toBe('-------^-!');
    }),
  );

  it(
    'synchronous inners come out like concatMap',
    marbles(({ hot, expectObservable, expectSubscriptions }) => {
      const outer = hot('  a---b---|');
      const result = outer.pipe(
        fanOut((v: string) => of(v, v.toUpperCase()), { concurrency: 2, ordered: true }),
      );
      expectObservable(result).toBe('(aA)(bB)|');
      expectSubscriptions(outer.subscriptions).toBe('^-------!');
    }),
  );

  it(
    'an inner error fails fast, even from an inner that is not the head',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     ----1|');
      const b = cold('      -2#  ');
      const outer = hot('  ab---|');
      const inners: Record<string, typeof a> = { a, b };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: 2, ordered: true }));
      expectObservable(result).toBe('---#');
      expectSubscriptions(outer.subscriptions).toBe('^--!');
      expectSubscriptions(a.subscriptions).toBe('^--!');
      expectSubscriptions(b.subscriptions).toBe('-^-!');
    }),
  );

  it(
    'an outer error is forwarded at once, dropping held values',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     ----1|');
      const b = cold('      -2|  ');
      const outer = hot('  ab--#  ');
      const inners: Record<string, typeof a> = { a, b };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: 2, ordered: true }));
      expectObservable(result).toBe('----#');
      expectSubscriptions(outer.subscriptions).toBe('^---!');
      expectSubscriptions(a.subscriptions).toBe('^---!');
      expectSubscriptions(b.subscriptions).toBe('-^-!');
    }),
  );

  it(
    'early unsubscription tears down running inners and drops held values',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     ----1|');
      const b = cold('      -2|  ');
      const outer = hot('  ab-----|');
      const unsub = '      ---!    ';
      const inners: Record<string, typeof a> = { a, b };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: 2, ordered: true }));
      expectObservable(result, unsub).toBe('---');
      expectSubscriptions(outer.subscriptions).toBe('^--!');
      expectSubscriptions(a.subscriptions).toBe('^--!');
      expectSubscriptions(b.subscriptions).toBe('-^-!');
    }),
  );
});
