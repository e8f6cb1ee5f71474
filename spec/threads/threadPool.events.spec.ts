import { expect } from 'chai';
import {
  catchError,
  firstValueFrom,
  lastValueFrom,
  map,
  of,
  range,
  take,
  timeout,
  toArray,
  type Observable,
} from 'rxjs';
import { isWorkerLoadError, WorkerCrashedError } from '../../lib/errors.js';
import { threadPool, type PoolEvent, type ThreadPool } from '../../lib/threads/index.js';
import type { Op } from '../fixtures/workers/ops.worker.js';
import { tsWorker } from './tsWorker.js';

const opsScript = tsWorker(new URL('../fixtures/workers/ops.worker.ts', import.meta.url));
const brokenScript = tsWorker(new URL('../fixtures/workers/broken.worker.ts', import.meta.url));

/** The first `n` events, or a timeout error after a generous deadline. */
const nextEvents = (events$: Observable<PoolEvent>, n: number) =>
  firstValueFrom(events$.pipe(take(n), toArray(), timeout(15_000)));

/** Runs one item in its own subscription: its result, or the error it failed with. */
const runOne = (pool: ThreadPool<Op, unknown>, item: Op) =>
  lastValueFrom(
    of(item).pipe(
      pool.map(),
      catchError((error: unknown) => of({ error })),
    ),
  );

describe('threadPool events$ (real worker_threads)', function () {
  this.timeout(20_000);
  let pool: ThreadPool<Op, unknown>;
  afterEach(async () => {
    await pool?.close();
  });

  it('a worker that exits mid-item: crashed with the error the item got, then replaced for the queued item', async () => {
    pool = threadPool({ script: opsScript, size: 1, queueDepth: 2 });
    const before = Date.now();
    const events = nextEvents(pool.events$, 2);
    // Both go to the one worker; the square waits behind the exit and moves to its replacement.
    const [crashedItem, square] = await Promise.all([
      runOne(pool, { op: 'exit', code: 3 }),
      runOne(pool, { op: 'square', n: 4 }),
    ]);
    const [crashed, replaced] = await events;
    const after = Date.now();
    expect(square).to.equal(16);
    expect(crashed.type).to.equal('crashed');
    const { error } = crashed as Extract<PoolEvent, { type: 'crashed' }>;
    expect(error).to.be.instanceOf(WorkerCrashedError);
    expect(error.message).to.match(/exited with code 3/);
    expect((crashedItem as { error: unknown }).error).to.equal(error);
    expect(replaced.type).to.equal('replaced');
    expect(Object.keys(replaced).sort()).to.deep.equal(['at', 'type']);
    expect(crashed.at).to.be.within(before, after);
    expect(replaced.at).to.be.within(crashed.at, after);
  });

  it('with nothing queued the replacement comes with the next item, before its result', async () => {
    pool = threadPool({ script: opsScript, size: 1, queueDepth: 1 });
    const log: unknown[] = [];
    pool.events$.subscribe((event) => log.push(event.type));
    const crashed = nextEvents(pool.events$, 1);
    const failure = await runOne(pool, { op: 'exit', code: 5 });
    log.push(failure instanceof Object && 'error' in failure ? 'item error' : failure);
    await crashed;
    expect(log).to.deep.equal(['crashed', 'item error']);
    const replaced = nextEvents(pool.events$, 1);
    const results = await lastValueFrom(
      range(0, 3).pipe(
        map((n): Op => ({ op: 'square', n })),
        pool.map({ ordered: true }),
        toArray(),
      ),
    );
    log.push(results);
    await replaced;
    expect(log).to.deep.equal(['crashed', 'item error', 'replaced', [0, 1, 4]]);
  });

  it('a script that fails to load: crashed with the fatal WorkerLoadError, and no replacement', async () => {
    pool = threadPool({ script: brokenScript, size: 1 });
    const log: PoolEvent[] = [];
    pool.events$.subscribe((event) => log.push(event));
    const crashed = nextEvents(pool.events$, 1);
    const first = (await runOne(pool, { op: 'square', n: 1 })) as { error: unknown };
    const [event] = await crashed;
    expect(isWorkerLoadError(first.error)).to.equal(true);
    expect(event).to.include({ type: 'crashed', error: first.error });
    // The pool stops spawning: a later item errors at once, no worker, no event.
    const later = (await runOne(pool, { op: 'square', n: 2 })) as { error: unknown };
    expect(later.error).to.equal(first.error);
    expect(log).to.deep.equal([event]);
  });
});
