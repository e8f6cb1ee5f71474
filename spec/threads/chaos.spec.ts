/**
 * Chaos: workers die at random mid-item while several subscriptions share the pool. Every item
 * either succeeds or fails with WorkerCrashedError (then is retried), results stay correct, and
 * close() still ends every thread. CHAOS_SCALE=5 runs five times as many items.
 */
import { expect } from 'chai';
import { defer, lastValueFrom, mergeMap, of, range, retry, throwError, timer, toArray } from 'rxjs';
import { isWorkerCrashedError } from '../../lib/errors.js';
import { threadPool } from '../../lib/threads/index.js';
import type { Op } from '../fixtures/workers/ops.worker.js';
import { tsWorker } from './tsWorker.js';

const opsScript = tsWorker(new URL('../fixtures/workers/ops.worker.ts', import.meta.url));
const scale = Number(process.env.CHAOS_SCALE ?? '1');

describe('threadPool chaos: random worker deaths', function () {
  this.timeout(60_000 * scale);

  it('every item ends correct after retries on WorkerCrashedError; close() ends all threads', async () => {
    const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const before = ports();
    const pool = threadPool<Op, number>({ script: opsScript, size: 2, queueDepth: 2 });
    const items = Math.round(60 * scale);
    let crashes = 0;
    const results = await lastValueFrom(
      range(0, items).pipe(
        // Each item is its own subscription: a crash errors only that one, which retries.
        mergeMap(
          (n) =>
            defer(() =>
              lastValueFrom(of<Op>({ op: 'flaky', n, crashRate: 0.15 }).pipe(pool.map())),
            ).pipe(
              retry({
                count: 20,
                delay: (error: unknown) => {
                  if (!isWorkerCrashedError(error)) return throwError(() => error);
                  crashes++;
                  return timer(0);
                },
              }),
            ),
          8,
        ),
        toArray(),
      ),
    );
    expect(results.sort((a, b) => a - b)).to.deep.equal(
      Array.from({ length: items }, (_, n) => n * n),
    );
    expect(crashes, 'some workers died').to.be.greaterThan(0);
    await pool.close();
    expect(ports()).to.equal(before);
  });
});
