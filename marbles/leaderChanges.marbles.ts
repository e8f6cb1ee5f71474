import { expect } from 'chai';
import { map } from 'rxjs';
import {
  leaderChanges,
  MemoryElection,
  type ElectionBackend,
  type Leader,
} from '../lib/election/index.js';
import { marbles } from '../lib/testing/index.js';

const A: Leader = { id: 'a', value: 'node-a', term: 1n };
const B: Leader = { id: 'b', value: 'node-b', term: 2n };
const B2: Leader = { id: 'b', value: 'node-b:busy', term: 2n };

describe('leaderChanges (marbles)', () => {
  it(
    'emits the current leader first, then each change once, including null',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const observed = cold('a-a-b-b-c-n-n-a', { a: A, b: B, c: B2, n: null });
      const backend = { observe: () => observed } as unknown as ElectionBackend;
      expectObservable(leaderChanges(backend, 'jobs')).toBe('a---b---c-n---a', {
        a: A,
        b: B,
        c: B2,
        n: null,
      });
      expectSubscriptions(observed.subscriptions).toBe('^');
    }),
  );

  it(
    'follows a MemoryElection: hand-over on resign, null when the last candidate leaves',
    marbles(({ expectObservable }) => {
      const election = new MemoryElection();
      const state = map(({ isLeader, term }: { isLeader: boolean; term: bigint }) => ({
        isLeader,
        term,
      }));
      expectObservable(election.campaign('jobs', 'a').pipe(state), '^----!').toBe('t', {
        t: { isLeader: true, term: 1n },
      });
      expectObservable(election.campaign('jobs', 'b').pipe(state), '--^-----!').toBe('--f--T', {
        f: { isLeader: false, term: 0n },
        T: { isLeader: true, term: 2n },
      });
      expectObservable(
        leaderChanges(election, 'jobs').pipe(map((l) => (l ? `${l.value}:${l.term}` : null))),
        '^----------!',
      ).toBe('a----b--n', { a: 'a:1', b: 'b:2', n: null });
    }),
  );

  it('validates its arguments', () => {
    expect(() => leaderChanges({} as ElectionBackend, 'x')).to.throw(TypeError, 'backend');
    expect(() => leaderChanges(new MemoryElection(), '')).to.throw(RangeError, 'name');
  });
});
