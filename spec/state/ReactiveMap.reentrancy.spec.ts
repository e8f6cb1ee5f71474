import { expect } from 'chai';
import fc from 'fast-check';
import type { Subscription } from 'rxjs';
import { ReactiveMap, type MapChange } from '../../lib/state/index.js';

type Value = number | undefined;

describe('ReactiveMap: listeners that act during delivery', () => {
  it('a watcher unsubscribed by an earlier one during delivery gets nothing more', () => {
    const map = new ReactiveMap<string, number>();
    const seen: Record<string, Value[]> = { first: [], second: [], third: [] };
    const subs: Record<string, Subscription> = {};
    subs.first = map.watch('a').subscribe((v) => {
      seen.first.push(v);
      if (v === 2) subs.second.unsubscribe();
    });
    subs.second = map.watch('a').subscribe((v) => seen.second.push(v));
    subs.third = map.watch('a').subscribe((v) => seen.third.push(v));
    map.store('a', 1);
    map.store('a', 2);
    map.store('a', 3);
    expect(seen).to.deep.equal({
      first: [undefined, 1, 2, 3],
      second: [undefined, 1],
      third: [undefined, 1, 2, 3],
    });
  });

  it('a watcher that unsubscribes an earlier one or itself does not skip the next one', () => {
    const map = new ReactiveMap<string, number>();
    const seen: Value[][] = [[], [], [], []];
    const subs: Subscription[] = [];
    const watchers = [0, 1, 2, 3].map((i) =>
      map.watch('a').subscribe((v) => {
        seen[i].push(v);
        if (v !== 1) return;
        if (i === 1) subs[0].unsubscribe(); // already delivered: must not shift the others
        if (i === 2) subs[2].unsubscribe();
      }),
    );
    subs.push(...watchers);
    map.store('a', 1);
    map.store('a', 2);
    expect(seen).to.deep.equal([
      [undefined, 1],
      [undefined, 1, 2],
      [undefined, 1],
      [undefined, 1, 2],
    ]);
  });

  it('a watcher subscribed during delivery starts from the current value, with no replay', () => {
    const map = new ReactiveMap<string, number>();
    const late: Value[] = [];
    map.watch('a').subscribe((v) => {
      if (v === 1) map.watch('a').subscribe((w) => late.push(w));
    });
    map.store('a', 1);
    map.store('a', 2);
    expect(late).to.deep.equal([1, 2]);
  });

  it('a watcher that stores into its own key: every watcher sees one order', () => {
    const map = new ReactiveMap<string, number>();
    const first: Value[] = [];
    const second: Value[] = [];
    map.watch('a').subscribe((v) => {
      first.push(v);
      if (v !== undefined && v < 3) map.store('a', v + 1);
    });
    map.watch('a').subscribe((v) => second.push(v));
    map.store('a', 1);
    expect(map.load('a')).to.equal(3);
    expect(first).to.deep.equal([undefined, 1, 2, 3]);
    expect(second).to.deep.equal([undefined, 1, 2, 3]);
  });

  it('a watcher that stores while receiving its first value sees its own change', () => {
    const map = new ReactiveMap<string, number>();
    const seen: Value[] = [];
    map.watch('a').subscribe((v) => {
      seen.push(v);
      if (v === undefined) map.store('a', 1);
    });
    expect(seen).to.deep.equal([undefined, 1]); // the old map lost the 1: it listened after
  });

  it('watchers and changes$ subscribers of one change are called in subscription order', () => {
    const map = new ReactiveMap<string, number>();
    const calls: string[] = [];
    map.changes$.subscribe((c) => calls.push(`changes1:${c.version}`));
    map.watch('a').subscribe((v) => v !== undefined && calls.push(`a1:${v}`));
    map.watch('b').subscribe((v) => v !== undefined && calls.push(`b1:${v}`));
    map.changes$.subscribe((c) => calls.push(`changes2:${c.version}`));
    map.watch('a').subscribe((v) => v !== undefined && calls.push(`a2:${v}`));
    map.store('a', 7);
    map.store('b', 8);
    expect(calls).to.deep.equal([
      'changes1:1',
      'a1:7',
      'changes2:1',
      'a2:7',
      'changes1:2',
      'b1:8',
      'changes2:2',
    ]);
  });

  it('treats keys as Map does: -0 and +0 are one key, NaN is a key', () => {
    const map = new ReactiveMap<number, string>();
    const zero: (string | undefined)[] = [];
    const nan: (string | undefined)[] = [];
    map.watch(0).subscribe((v) => zero.push(v));
    map.watch(NaN).subscribe((v) => nan.push(v));
    map.store(-0, 'minus zero');
    map.store(NaN, 'nan');
    expect(zero).to.deep.equal([undefined, 'minus zero']);
    expect(nan).to.deep.equal([undefined, 'nan']);
  });

  it('property: each watcher sees its key as replayed from changes$, whatever listeners do', () => {
    const key = fc.constantFrom('a', 'b', 'c');
    const action = fc.oneof(
      fc.record({
        kind: fc.constant('store' as const),
        key,
        value: fc.integer({ min: 0, max: 2 }),
      }),
      fc.record({ kind: fc.constant('delete' as const), key }),
      fc.record({ kind: fc.constant('watch' as const), key }),
      fc.record({ kind: fc.constant('unwatch' as const), index: fc.nat(20) }),
    );
    type Action = typeof action extends fc.Arbitrary<infer A> ? A : never;
    interface Watcher {
      key: string;
      fromVersion: number;
      seen: Value[];
      sub?: Subscription;
      stopped: boolean;
    }
    fc.assert(
      fc.property(
        fc.array(action, { minLength: 1, maxLength: 30 }),
        // A reaction per delivery, taken in turn by every watcher callback.
        fc.array(action, { maxLength: 12 }),
        (actions, reactions) => {
          const map = new ReactiveMap<string, number>();
          const log: MapChange<string, number>[] = [];
          map.changes$.subscribe((c) => log.push(c));
          const watchers: Watcher[] = [];
          let reaction = 0;
          const run = (a: Action): void => {
            if (a.kind === 'store') map.store(a.key, a.value);
            else if (a.kind === 'delete') map.delete(a.key);
            else if (a.kind === 'unwatch') {
              const w = watchers[a.index % Math.max(1, watchers.length)];
              if (w?.sub) w.sub.unsubscribe();
              if (w) w.stopped = true;
            } else {
              const w: Watcher = { key: a.key, fromVersion: map.version, seen: [], stopped: false };
              watchers.push(w);
              w.sub = map.watch(a.key).subscribe((v) => {
                w.seen.push(v);
                if (reaction < reactions.length) run(reactions[reaction++]);
              });
            }
          };
          for (const a of actions) run(a);
          for (const w of watchers) {
            const replay = new Map<string, number>();
            for (const c of log) {
              if (c.version > w.fromVersion) break;
              if (c.type === 'delete') replay.delete(c.key);
              else replay.set(c.key, c.value!);
            }
            const expected = [
              replay.get(w.key),
              ...log
                .filter((c) => c.key === w.key && c.version > w.fromVersion)
                .map((c) => c.value),
            ];
            if (w.stopped) expect(expected.slice(0, w.seen.length)).to.deep.equal(w.seen);
            else expect(w.seen).to.deep.equal(expected);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
