import { expect } from 'chai';
import { asyncScheduler, map, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { MemoryElection, type ElectionEvent } from '../../lib/election/index.js';
import { electionConformance } from './conformance.js';
import { electionEventsConformance } from './eventsConformance.js';

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

electionEventsConformance('memory', async () => {
  const backend = new MemoryElection();
  return {
    backend,
    peer: backend, // one instance is the whole store
    ttlMs: 1000,
    now: () => Date.now(),
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

describe('MemoryElection events$ (virtual time)', () => {
  const scheduler = () =>
    new TestScheduler((actual, expected) => {
      expect(actual).to.deep.equal(expected);
    });

  it('reports elected and resigned at their exact scheduler time, before observers and the campaign hear of it', () => {
    const testScheduler = scheduler();
    testScheduler.run(({ flush }) => {
      const election = new MemoryElection({ scheduler: testScheduler });
      const log: string[] = [];
      const events: ElectionEvent[] = [];
      election.events$.subscribe((e) => {
        events.push(e);
        log.push(`event ${e.type}:${e.term}`);
      });
      election.observe('n').subscribe((l) => log.push(`observe ${l?.value ?? null}`));
      const subs: Record<string, Subscription> = {};
      const join = (who: string) => () =>
        (subs[who] = election
          .campaign('n', who)
          .subscribe((c) => log.push(`${who} ${c.isLeader}:${c.term}`)));
      testScheduler.schedule(join('a'), 5);
      testScheduler.schedule(join('b'), 7);
      testScheduler.schedule(() => subs.a.unsubscribe(), 20);
      testScheduler.schedule(() => subs.b.unsubscribe(), 31);
      flush();
      expect(events).to.deep.equal([
        { type: 'elected', at: 5, name: 'n', candidate: 'a', term: 1n },
        { type: 'resigned', at: 20, name: 'n', term: 1n },
        { type: 'elected', at: 20, name: 'n', candidate: 'b', term: 2n },
        { type: 'resigned', at: 31, name: 'n', term: 2n },
      ]);
      expect(log).to.deep.equal([
        'observe null',
        'event elected:1',
        'observe a',
        'a true:1',
        'b false:0',
        'event resigned:1',
        'event elected:2',
        'observe b',
        'b true:2',
        'event resigned:2',
        'observe null',
      ]);
    });
  });

  it('a follower that leaves is no event; a leader resigning inside its own election notification is resigned', () => {
    const testScheduler = scheduler();
    testScheduler.run(({ flush }) => {
      const election = new MemoryElection({ scheduler: testScheduler });
      const events: string[] = [];
      election.events$.subscribe((e) => events.push(`${e.type}:${e.term}@${e.at}`));
      const a = election.campaign('r', 'a').subscribe();
      const follower = election.campaign('r', 'f').subscribe();
      testScheduler.schedule(() => follower.unsubscribe(), 3);
      testScheduler.schedule(() => {
        const b = election.campaign('r', 'b').subscribe((c) => {
          if (c.isLeader) b.unsubscribe(); // resigns while being told it leads
        });
        a.unsubscribe();
      }, 8);
      flush();
      expect(events).to.deep.equal(['elected:1@0', 'resigned:1@8', 'elected:2@8', 'resigned:2@8']);
    });
  });

  it('builds nothing while unobserved: the clock is not even read, and only what follows a subscribe is seen', () => {
    let reads = 0;
    const clock = {
      now: () => (reads++, 42),
      schedule: asyncScheduler.schedule.bind(asyncScheduler),
    };
    const election = new MemoryElection({ scheduler: clock });
    const a = election.campaign('u', 'a').subscribe();
    election.campaign('u', 'b').subscribe();
    a.unsubscribe();
    expect(reads).to.equal(0);
    const events: ElectionEvent[] = [];
    election.events$.subscribe((e) => events.push(e));
    election.campaign('u', 'c').subscribe().unsubscribe(); // a follower: no event
    expect(events).to.deep.equal([]);
    expect(reads).to.equal(0);
  });

  it('rejects unknown config keys and a bad scheduler at creation', () => {
    expect(() => new MemoryElection({ clock: 1 } as never)).to.throw(
      TypeError,
      'config has an unknown option "clock"',
    );
    expect(() => new MemoryElection({ scheduler: {} as never })).to.throw(TypeError, 'scheduler');
  });
});
