import { expect } from 'chai';
import fc from 'fast-check';
import type { Subscription } from 'rxjs';
import { ReactiveMap, type MapChange } from '../../lib/state/index.js';

type Change = MapChange<string, number>;

function record(map: ReactiveMap<string, number>): { changes: Change[]; sub: Subscription } {
  const changes: Change[] = [];
  const sub = map.changes$.subscribe((c) => changes.push(c));
  return { changes, sub };
}

const brief = (c: Change) => [c.type, c.key, c.value, c.previous, c.version];

describe('ReactiveMap', () => {
  it('takes initial entries from any iterable of pairs; a wrong argument is a TypeError naming it', () => {
    expect(new ReactiveMap(new Map([['a', 1]])).load('a')).to.equal(1);
    expect(new ReactiveMap([['b', 2]]).size).to.equal(1);
    expect(new ReactiveMap(null).size).to.equal(0);
    expect(() => new ReactiveMap(5 as never)).to.throw(
      TypeError,
      'entries must be an iterable of [key, value] pairs, got 5',
    );
    expect(() => new ReactiveMap({ a: 1 } as never)).to.throw(
      TypeError,
      'entries must be an iterable of [key, value] pairs, got [object Object]',
    );
    expect(() => new ReactiveMap([['a', 1], 7] as never)).to.throw(
      TypeError,
      'entries[1] must be a [key, value] pair, got 7',
    );
  });

  it('store / load / size, with add and update changes', () => {
    const map = new ReactiveMap<string, number>();
    const { changes } = record(map);
    map.store('a', 1);
    map.store('a', 2);
    map.store('b', 3);
    expect(map.load('a')).to.equal(2);
    expect(map.load('zz')).to.equal(undefined);
    expect(map.size).to.equal(2);
    expect(map.version).to.equal(3);
    expect(changes.map(brief)).to.deep.equal([
      ['add', 'a', 1, undefined, 1],
      ['update', 'a', 2, 1, 2],
      ['add', 'b', 3, undefined, 3],
    ]);
  });

  it('emits nothing when nothing changes', () => {
    const map = new ReactiveMap<string, number>([['a', 1]]);
    const { changes } = record(map);
    map.store('a', 1);
    map.delete('missing');
    expect(map.loadOrStore('a', 5)).to.deep.equal({ value: 1, loaded: true });
    expect(map.swap('a', 1)).to.deep.equal({ previous: 1, loaded: true });
    expect(map.compareAndSwap('a', 9, 10)).to.equal(false);
    expect(map.compareAndSwap('missing', 1, 2)).to.equal(false);
    expect(map.compareAndDelete('a', 9)).to.equal(false);
    expect(map.loadAndDelete('missing')).to.deep.equal({ value: undefined, loaded: false });
    expect(changes).to.deep.equal([]);
    expect(map.version).to.equal(0);
  });

  it('loadOrStore stores when absent', () => {
    const map = new ReactiveMap<string, number>();
    const { changes } = record(map);
    expect(map.loadOrStore('a', 5)).to.deep.equal({ value: 5, loaded: false });
    expect(map.load('a')).to.equal(5);
    expect(changes.map(brief)).to.deep.equal([['add', 'a', 5, undefined, 1]]);
  });

  it('loadAndDelete and delete remove the key', () => {
    const map = new ReactiveMap<string, number>([
      ['a', 1],
      ['b', 2],
    ]);
    const { changes } = record(map);
    expect(map.loadAndDelete('a')).to.deep.equal({ value: 1, loaded: true });
    map.delete('b');
    expect(map.size).to.equal(0);
    expect(changes.map(brief)).to.deep.equal([
      ['delete', 'a', undefined, 1, 1],
      ['delete', 'b', undefined, 2, 2],
    ]);
  });

  it('swap returns the previous value', () => {
    const map = new ReactiveMap<string, number>();
    expect(map.swap('a', 1)).to.deep.equal({ previous: undefined, loaded: false });
    expect(map.swap('a', 2)).to.deep.equal({ previous: 1, loaded: true });
    expect(map.load('a')).to.equal(2);
  });

  it('compareAndSwap and compareAndDelete act only on a match (Object.is)', () => {
    const map = new ReactiveMap<string, number>([['n', NaN]]);
    const { changes } = record(map);
    expect(map.compareAndSwap('n', NaN, 1)).to.equal(true);
    expect(map.load('n')).to.equal(1);
    expect(map.compareAndDelete('n', 1)).to.equal(true);
    expect(map.size).to.equal(0);
    expect(changes.map((c) => c.type)).to.deep.equal(['update', 'delete']);
  });

  it('range visits in insertion order and stops when fn returns false', () => {
    const map = new ReactiveMap<string, number>([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
    const seen: string[] = [];
    map.range((k) => {
      seen.push(k);
      return k !== 'b';
    });
    expect(seen).to.deep.equal(['a', 'b']);
    const all: [string, number][] = [];
    map.range((k, v) => void all.push([k, v]));
    expect(all).to.deep.equal([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
  });

  it('watch emits the current value, then each change to that key only', () => {
    const map = new ReactiveMap<string, number>([['a', 1]]);
    const values: (number | undefined)[] = [];
    const sub = map.watch('a').subscribe((v) => values.push(v));
    map.store('b', 5);
    map.store('a', 2);
    map.store('a', 2);
    map.delete('a');
    sub.unsubscribe();
    map.store('a', 3);
    expect(values).to.deep.equal([1, 2, undefined]);
  });

  it('unsubscribed listeners get nothing more', () => {
    const map = new ReactiveMap<string, number>();
    const { changes, sub } = record(map);
    map.store('a', 1);
    sub.unsubscribe();
    map.store('a', 2);
    expect(changes).to.have.length(1);
  });

  it('queues re-entrant mutations: every subscriber sees one order', () => {
    const map = new ReactiveMap<string, number>();
    const first: number[] = [];
    const second: number[] = [];
    map.changes$.subscribe((c) => {
      first.push(c.version);
      if (c.key === 'a') map.store('b', c.value! * 10); // mutates inside the callback
    });
    map.changes$.subscribe((c) => second.push(c.version));
    map.store('a', 1);
    expect(map.load('b')).to.equal(10);
    expect(first).to.deep.equal([1, 2]);
    expect(second).to.deep.equal([1, 2]); // a plain Subject would deliver [2, 1] here
  });

  it('a watch subscribed inside a callback does not replay queued changes', () => {
    const map = new ReactiveMap<string, number>();
    const watched: (number | undefined)[] = [];
    map.changes$.subscribe((c) => {
      if (c.version === 1) {
        map.store('a', 2); // queued: applied now, delivered after change 1
        map.watch('a').subscribe((v) => watched.push(v));
      }
    });
    map.store('a', 1);
    map.store('a', 3);
    expect(watched).to.deep.equal([2, 3]);
  });

  it('property: subscribers mutating inside callbacks all observe the identical sequence', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('store' as const),
        key: fc.constantFrom('a', 'b', 'c'),
        value: fc.integer({ min: 0, max: 3 }),
      }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c') }),
      fc.record({
        kind: fc.constant('cas' as const),
        key: fc.constantFrom('a', 'b', 'c'),
        old: fc.integer({ min: 0, max: 3 }),
        value: fc.integer({ min: 0, max: 3 }),
      }),
    );
    type Op = typeof op extends fc.Arbitrary<infer O> ? O : never;
    const apply = (map: ReactiveMap<string, number>, o: Op) => {
      if (o.kind === 'store') map.store(o.key, o.value);
      else if (o.kind === 'delete') map.delete(o.key);
      else map.compareAndSwap(o.key, o.old, o.value);
    };
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 20 }),
        // Per subscriber: a reaction (op) for each version it sees, up to a budget.
        fc.array(fc.array(op, { maxLength: 6 }), { minLength: 2, maxLength: 4 }),
        (ops, reactions) => {
          const map = new ReactiveMap<string, number>();
          const seen = reactions.map(() => [] as Change[]);
          reactions.forEach((script, i) => {
            let step = 0;
            map.changes$.subscribe((c) => {
              seen[i].push(c);
              if (step < script.length) apply(map, script[step++]);
            });
          });
          for (const o of ops) apply(map, o);
          for (const s of seen) expect(s).to.deep.equal(seen[0]);
          const versions = seen[0].map((c) => c.version);
          versions.forEach((v, i) => expect(v).to.equal(i + 1));
          // Replaying the observed changes rebuilds the final state.
          const replay = new Map<string, number>();
          for (const c of seen[0]) {
            if (c.type === 'delete') replay.delete(c.key);
            else replay.set(c.key, c.value!);
          }
          const actual = new Map<string, number>();
          map.range((k, v) => void actual.set(k, v));
          expect([...actual].sort()).to.deep.equal([...replay].sort());
        },
      ),
      { numRuns: 300 },
    );
  });
});
