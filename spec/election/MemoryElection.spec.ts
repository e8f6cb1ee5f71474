import { expect } from 'chai';
import { map } from 'rxjs';
import { MemoryElection } from '../../lib/election/index.js';
import { electionConformance } from './conformance.js';

electionConformance('memory', async () => {
  const backend = new MemoryElection();
  return {
    backend,
    ttlMs: 1000,
    // The instance forgets an election once nobody campaigns for or observes it.
    residue: async (name) =>
      (backend as unknown as { races: Map<string, unknown> }).races.has(name) ? [name] : [],
    close: async () => undefined,
  };
});

describe('MemoryElection', () => {
  it('serves candidates first come, first served', () => {
    const election = new MemoryElection();
    const order: string[] = [];
    const subs = ['a', 'b', 'c'].map((who) =>
      election
        .campaign('q', who)
        .pipe(map((c) => c.isLeader))
        .subscribe((leads) => leads && order.push(who)),
    );
    subs[0].unsubscribe();
    subs[1].unsubscribe();
    expect(order).to.deep.equal(['a', 'b', 'c']);
    subs[2].unsubscribe();
  });

  it('survives a re-entrant resign from inside a leadership notification', () => {
    const election = new MemoryElection();
    const seen: string[] = [];
    const a = election.campaign('r', 'a').subscribe();
    const b = election.campaign('r', 'b').subscribe((c) => {
      seen.push(`b:${c.isLeader}:${c.term}`);
      if (c.isLeader) b.unsubscribe(); // resigns while being told it leads
    });
    const c = election.campaign('r', 'c').subscribe((x) => seen.push(`c:${x.isLeader}:${x.term}`));
    const leaders: (string | null)[] = [];
    election.observe('r').subscribe((l) => leaders.push(l?.value ?? null));
    a.unsubscribe();
    expect(seen).to.deep.equal(['b:false:0', 'c:false:0', 'b:true:2', 'c:true:3']);
    expect(leaders).to.deep.equal(['a', 'b', 'c']);
    c.unsubscribe();
    expect(leaders.at(-1)).to.equal(null);
  });

  it('validates names, candidates and options when the campaign is created', () => {
    const election = new MemoryElection();
    expect(() => election.campaign('', 'x')).to.throw(RangeError, 'name');
    expect(() => election.campaign('n', 1 as never)).to.throw(TypeError, 'candidate');
    expect(() => election.campaign('n', 'x', { ttlMs: 0 })).to.throw(RangeError, 'ttlMs');
    expect(() => election.campaign('n', 'x', { ttlMs: 2 ** 31 })).to.throw(
      RangeError,
      'ttlMs must be an integer >= 1 and <= 2147483647, got 2147483648',
    );
    expect(() => election.campaign('n', 'x', { ttl: 5 } as never)).to.throw(
      TypeError,
      'campaign options has an unknown option "ttl"',
    );
    expect(() => election.observe(3 as never)).to.throw(TypeError, 'name');
  });
});
