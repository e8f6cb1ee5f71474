import { expect } from 'chai';
import { throwError } from 'rxjs';
import { whileLeader, type Leadership } from '../lib/election/index.js';
import { marbles } from '../lib/testing/index.js';

const t1: Leadership = { isLeader: true, term: 1n };
const t2: Leadership = { isLeader: true, term: 2n };
const f1: Leadership = { isLeader: false, term: 1n };
const f0: Leadership = { isLeader: false, term: 0n };
const states = { t: t1, T: t2, f: f1, o: f0 };

describe('whileLeader (marbles)', () => {
  it(
    'runs the work only while leader and stops it at once on loss',
    marbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const leadership = hot('o-t-----f---T-----', states);
      const work = cold('     a-b-c-d-e-f-g-h-i');
      const expected = '     --a-b-c-----a-b-c-';
      expectObservable(leadership.pipe(whileLeader(() => work)), '^-----------------!').toBe(
        expected,
      );
      expectSubscriptions(work.subscriptions).toBe(['--^-----!', '------------^-----!']);
      expectSubscriptions(leadership.subscriptions).toBe('^-----------------!');
    }),
  );

  it(
    'passes the term and restarts the work on a new term, not on a repeated one',
    marbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const leadership = hot('t--t--T-----', states);
      const terms: bigint[] = [];
      const work = cold('     x-x-x-x-x-x');
      expectObservable(
        leadership.pipe(
          whileLeader((term) => {
            terms.push(term);
            return work;
          }),
        ),
        '^----------!',
      ).toBe('x-x-x-x-x-x-');
      expectSubscriptions(work.subscriptions).toBe(['^-----!', '------^----!']);
      leadership.subscribe({ complete: () => expect(terms).to.deep.equal([1n, 2n]) });
    }),
  );

  it(
    'does not restart work that completed on its own until the next term',
    marbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const leadership = hot('t--t--f-T---', states);
      const work = cold('     ab|');
      expectObservable(leadership.pipe(whileLeader(() => work))).toBe('ab------ab--');
      expectSubscriptions(work.subscriptions).toBe(['^-!', '--------^-!']);
    }),
  );

  it(
    'stops the work and completes when the leadership stream completes',
    marbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const leadership = hot('-t---|', states);
      const work = cold('      a-a-a-a');
      expectObservable(leadership.pipe(whileLeader(() => work))).toBe('-a-a-|');
      expectSubscriptions(work.subscriptions).toBe('-^---!');
    }),
  );

  it(
    'stops the work and errors when the leadership stream errors',
    marbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const leadership = hot('-t---#', states);
      const work = cold('      a-a-a-a');
      expectObservable(leadership.pipe(whileLeader(() => work))).toBe('-a-a-#');
      expectSubscriptions(work.subscriptions).toBe('-^---!');
    }),
  );

  it(
    'errors and resigns (unsubscribes the leadership) when the work errors',
    marbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const leadership = hot('-t------', states);
      const work = cold('      a-#');
      expectObservable(leadership.pipe(whileLeader(() => work))).toBe('-a-#');
      expectSubscriptions(leadership.subscriptions).toBe('^--!');
      expectSubscriptions(work.subscriptions).toBe('-^-!');
    }),
  );

  it(
    'errors when the work function throws, and when its result errors synchronously',
    marbles(({ hot, expectObservable }) => {
      const boom = new Error('boom');
      const leadership = hot('-t--', states);
      const throwing = () => {
        throw boom;
      };
      expectObservable(leadership.pipe(whileLeader(throwing))).toBe('-#', undefined, boom);
      expectObservable(leadership.pipe(whileLeader(() => throwError(() => boom)))).toBe(
        '-#',
        undefined,
        boom,
      );
    }),
  );

  it(
    'never starts work for a follower',
    marbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const leadership = hot('o--f--o--|', states);
      const work = cold('a');
      expectObservable(leadership.pipe(whileLeader(() => work))).toBe('---------|');
      expectSubscriptions(work.subscriptions).toBe([]);
    }),
  );

  it('validates work when the operator is created', () => {
    expect(() => whileLeader(42 as never)).to.throw(TypeError, 'work must be a function, got 42');
  });
});
