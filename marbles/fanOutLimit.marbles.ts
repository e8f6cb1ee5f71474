/**
 * fanOut with a ConcurrencyLimit whose limit changes mid-stream (RxJS issue 6036): raising it
 * admits waiting work at once; lowering it lets in-flight work finish and admits nothing new
 * until in-flight is under the new limit.
 */
import { expect } from 'chai';
import { map, Subject, type Observable } from 'rxjs';
import { createTestScheduler, marbles } from '../lib/testing/index.js';
import {
  fanOut,
  type ConcurrencyLimit,
  type Permit,
  type PermitOutcome,
} from '../lib/fanout/index.js';

/** The smallest honest ConcurrencyLimit: a counter, a settable limit, outcomes recorded. */
class TestLimit implements ConcurrencyLimit {
  inflight = 0;
  readonly outcomes: PermitOutcome[] = [];
  private readonly available = new Subject<void>();
  readonly available$: Observable<void> = this.available.asObservable();

  constructor(public limit: number) {}

  tryAcquire(): Permit | null {
    if (this.inflight >= this.limit) return null;
    this.inflight++;
    let released = false;
    return {
      release: (outcome) => {
        if (released) return;
        released = true;
        this.inflight--;
        this.outcomes.push(outcome);
        this.available.next();
      },
    };
  }

  setLimit(limit: number): void {
    const raised = limit > this.limit;
    this.limit = limit;
    if (raised) this.available.next();
  }
}

describe('fanOut with a ConcurrencyLimit', () => {
  it(
    'raising the limit mid-stream starts waiting work in that frame',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const limit = new TestLimit(1);
      hot('  --r').subscribe(() => limit.setLimit(3));
      const inner = cold('  -----x|');
      const outer = hot('   abcd|   ');
      const result = outer.pipe(
        fanOut((v: string) => inner.pipe(map(() => v)), { concurrency: limit }),
      );
      expectObservable(result).toBe('-----a-(bc)d|');
      expectSubscriptions(inner.subscriptions).toBe([
        '^-----!',
        '--^-----!',
        '--^-----!',
        '------^-----!',
      ]);
    }),
  );

  it(
    'lowering the limit lets in-flight work finish and admits none until under the limit',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const limit = new TestLimit(3);
      hot('  -l').subscribe(() => limit.setLimit(1));
      const a = cold('     --1|    ');
      const b = cold('     ----2|  ');
      const c = cold('     ------3|');
      const d = cold('            -4|');
      const outer = hot('  (abcd)| ');
      const inners: Record<string, typeof a> = { a, b, c, d };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: limit }));
      expectObservable(result).toBe('--1-2-3-4|');
      expectSubscriptions(a.subscriptions).toBe('^--!');
      expectSubscriptions(b.subscriptions).toBe('^----!');
      expectSubscriptions(c.subscriptions).toBe('^------!');
      expectSubscriptions(d.subscriptions).toBe('-------^-!');
    }),
  );

  it("releases 'success' on complete, 'dropped' on error, 'ignored' on unsubscribe", () => {
    const limit = new TestLimit(3);
    createTestScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     -1|  ');
      const b = cold('     --#  ');
      const c = cold('     -----3|');
      const outer = hot('  abc-----|');
      const unsub = '      ----!    ';
      const inners: Record<string, typeof a> = { a, b, c };
      const result = outer.pipe(
        fanOut((v) => inners[v], { concurrency: limit, errors: 'collect' }),
      );
      expectObservable(result, unsub).toBe('-1--');
      expectSubscriptions(c.subscriptions).toBe('--^-!');
    });
    expect(limit.outcomes).to.deep.equal(['success', 'dropped', 'ignored']);
    expect(limit.inflight).to.equal(0);
  });

  it(
    'shares one limit between two fanOut subscriptions',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const limit = new TestLimit(2);
      const inner = cold('  --x|');
      const left = hot('    ab--|  ');
      const right = hot('   -c----|');
      const work = (v: string) => inner.pipe(map(() => v));
      expectObservable(left.pipe(fanOut(work, { concurrency: limit }))).toBe('--ab|');
      expectObservable(right.pipe(fanOut(work, { concurrency: limit }))).toBe('-----c|');
      expectSubscriptions(inner.subscriptions).toBe(['^--!', '-^--!', '---^--!']);
    }),
  );

  it(
    'ordered: finished-but-held inners count against the current limit',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const limit = new TestLimit(2);
      const a = cold('     ----1|  ');
      const b = cold('      -2|    ');
      const c = cold('          -3|');
      const outer = hot('  abc|    ');
      const inners: Record<string, typeof a> = { a, b, c };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: limit, ordered: true }));
      expectObservable(result).toBe('----123|');
      expectSubscriptions(c.subscriptions).toBe('-----^-!');
    }),
  );
});
