import { expect } from 'chai';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  catchError,
  firstValueFrom,
  from,
  lastValueFrom,
  map,
  of,
  range,
  Subject,
  take,
  toArray,
} from 'rxjs';
import {
  isAbortedError,
  isBufferOverflowError,
  isTransient,
  isWorkerCrashedError,
  isWorkerLoadError,
  WorkerCrashedError,
} from '../../lib/errors.js';
import { exposeWorker, threadPool, type ThreadPool } from '../../lib/threads/index.js';
import type { Op } from '../fixtures/workers/ops.worker.js';
import { tsWorker } from './tsWorker.js';

const opsScript = tsWorker(new URL('../fixtures/workers/ops.worker.ts', import.meta.url));
const brokenScript = tsWorker(new URL('../fixtures/workers/broken.worker.ts', import.meta.url));

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.fail('expected an error'),
    (e: unknown) => e,
  );

describe('threadPool (real worker_threads)', function () {
  this.timeout(20_000);
  let pool: ThreadPool<Op, unknown>;
  afterEach(async () => {
    await pool?.close();
  });

  it('validates its options when created', () => {
    expect(() => threadPool({ script: '' })).to.throw(TypeError, /script/);
    expect(() => threadPool({ script: opsScript, size: 0 })).to.throw(
      RangeError,
      'size must be an integer >= 1, got 0',
    );
    expect(() => threadPool({ script: opsScript, queueDepth: 1.5 })).to.throw(
      RangeError,
      /queueDepth/,
    );
    pool = threadPool({ script: opsScript, size: 1 });
    expect(() => pool.map({ maxBuffered: -1 })).to.throw(RangeError, /maxBuffered/);
    expect(() => pool.map({ ordered: 'yes' as unknown as boolean })).to.throw(TypeError, /ordered/);
    expect(() => pool.map({ ordred: true } as never)).to.throw(
      TypeError,
      'threadPool map config has an unknown option "ordred"',
    );
    expect(() => threadPool({ script: opsScript, sise: 2 } as never)).to.throw(
      TypeError,
      'threadPool config has an unknown option "sise"',
    );
  });

  it('exposeWorker refuses to run outside a worker, and validates fn', () => {
    expect(() => exposeWorker('square' as unknown as () => void)).to.throw(
      TypeError,
      'fn must be a function, got "square"',
    );
    expect(() => exposeWorker((n: number) => n)).to.throw(/must be called in a worker/);
  });

  it('gives the same results as a plain map for CPU-bound work', async () => {
    pool = threadPool({ script: opsScript, size: 2 });
    const input = Array.from({ length: 40 }, (_, n) => n);
    const results = await lastValueFrom(
      from(input).pipe(
        map((n): Op => ({ op: 'square', n, spinMs: 2 })),
        pool.map(),
        toArray(),
      ),
    );
    expect((results as number[]).sort((a, b) => a - b)).to.deep.equal(input.map((n) => n * n));
  });

  it('ordered mode keeps input order although later items finish first', async () => {
    pool = threadPool({ script: opsScript, size: 3 });
    const results = await lastValueFrom(
      range(0, 12).pipe(
        map((n): Op => ({ op: 'sleep', n, ms: (12 - n) * 4 })),
        pool.map({ ordered: true }),
        toArray(),
      ),
    );
    expect(results).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('a worker that exits mid-item errors that item with WorkerCrashedError; others go on', async () => {
    pool = threadPool({ script: opsScript, size: 2, queueDepth: 2 });
    const squares: Op[] = Array.from({ length: 20 }, (_, n) => ({ op: 'square', n, spinMs: 3 }));
    // Another subscription shares the workers, including the one that dies.
    const bystander = lastValueFrom(from(squares).pipe(pool.map(), toArray()));
    const crashed = await errorOf(
      lastValueFrom(
        from<Op[]>([
          { op: 'square', n: 1 },
          { op: 'exit', code: 3 },
        ]).pipe(pool.map()),
      ),
    );
    expect(crashed).to.be.instanceOf(WorkerCrashedError);
    expect(String((crashed as Error).message)).to.match(/exited with code 3/);
    expect(((await bystander) as number[]).sort((a, b) => a - b)).to.deep.equal(
      squares.map((_, n) => n * n),
    );
    // The pool replaced the worker: later items succeed.
    const later = await lastValueFrom(
      range(0, 6).pipe(
        map((n): Op => ({ op: 'square', n })),
        pool.map({ ordered: true }),
        toArray(),
      ),
    );
    expect(later).to.deep.equal([0, 1, 4, 9, 16, 25]);
  });

  it('an uncaught error in the worker crashes only the item it was running', async () => {
    pool = threadPool({ script: opsScript, size: 1, queueDepth: 3 });
    const outcomes = await lastValueFrom(
      from<Op[]>([{ op: 'uncaught' }, { op: 'square', n: 7 }]).pipe(
        map((item) =>
          lastValueFrom(
            of(item).pipe(
              pool.map(),
              catchError((e: unknown) => of(isWorkerCrashedError(e) ? 'crashed' : 'other')),
            ),
          ),
        ),
        toArray(),
      ),
    );
    expect(await Promise.all(outcomes)).to.deep.equal(['crashed', 49]);
  });

  it('a script that throws while loading fails every item with one fatal error, at once later', async () => {
    pool = threadPool({ script: brokenScript, size: 2 });
    const error = await errorOf(
      lastValueFrom(
        range(0, 5).pipe(
          map((n): Op => ({ op: 'square', n })),
          pool.map(),
        ),
      ),
    );
    expect(isWorkerCrashedError(error)).to.equal(false);
    expect(isWorkerLoadError(error)).to.equal(true);
    expect(isTransient(error)).to.equal(false); // a configuration error: retrying cannot help
    expect(String((error as Error).message)).to.match(/failed to load: broken worker script/);
    expect(((error as Error).cause as Error).message).to.equal('broken worker script');
    // The pool knows now: a later subscription errors at once with the same error.
    const later = await errorOf(lastValueFrom(of<Op>({ op: 'square', n: 1 }).pipe(pool.map())));
    expect(later).to.equal(error);
  });

  it('a syntax error or a missing module in the script is fatal too, not WorkerCrashedError', async () => {
    const scripts = {
      syntax: 'export const = 1;',
      module: 'import "./no-such-module-here.js";',
    };
    for (const source of Object.values(scripts)) {
      const script = new URL(`data:text/javascript,${encodeURIComponent(source)}`);
      const broken = threadPool<number, number>({ script, size: 1 });
      const error = await errorOf(lastValueFrom(of(1).pipe(broken.map())));
      await broken.close();
      expect(isWorkerCrashedError(error), String(error)).to.equal(false);
      expect(isWorkerLoadError(error), String(error)).to.equal(true);
      expect(isTransient(error)).to.equal(false);
      expect(String((error as Error).message)).to.match(/^worker script data:.* failed to load/);
    }
  });

  it('a script path or file: URL that is not a file is rejected at creation, naming it', () => {
    const missing = join(tmpdir(), 'rxc-no-such-worker.js');
    expect(() => threadPool({ script: missing })).to.throw(
      TypeError,
      `script ${JSON.stringify(missing)} does not exist`,
    );
    expect(() => threadPool({ script: pathToFileURL(missing) })).to.throw(
      TypeError,
      /does not exist/,
    );
    expect(() => threadPool({ script: pathToFileURL(missing).href })).to.throw(
      TypeError,
      /does not exist/,
    );
    expect(() => threadPool({ script: tmpdir() })).to.throw(TypeError, /is not a file/);
    expect(() => threadPool({ script: 'worker.js' })).to.throw(
      TypeError,
      /script must be an absolute path, a path starting with \.\/ or \.\.\/, or a URL, got "worker.js"/,
    );
  });

  it('an error thrown by the work function errors the output with a copy of it', async () => {
    pool = threadPool({ script: opsScript, size: 1 });
    const error = (await errorOf(
      lastValueFrom(of<Op>({ op: 'throw', message: 'bad input', code: 'E_BAD' }).pipe(pool.map())),
    )) as Error & { code?: string };
    expect([error.name, error.message, error.code]).to.deep.equal([
      'RangeError',
      'bad input',
      'E_BAD',
    ]);
    expect(error).to.be.instanceOf(RangeError); // JavaScript's own classes survive the trip
    expect(isWorkerCrashedError(error)).to.equal(false);
  });

  it('unsubscribing cancels queued items: they never run', async () => {
    pool = threadPool({ script: opsScript, size: 2, queueDepth: 3 });
    const log = new SharedArrayBuffer(4 * 50);
    const ran = new Int32Array(log);
    const emitted = await lastValueFrom(
      range(0, 50).pipe(
        map((n): Op => ({ op: 'log', n, ms: 30, log })),
        pool.map(),
        take(3),
        toArray(),
      ),
    );
    await delay(300); // long enough for every posted item to have run, had it not been cancelled
    const started = ran.reduce((count, flag) => count + flag, 0);
    // The 3 emitted, plus at most the one running on each worker when take(3) unsubscribed.
    expect(emitted).to.have.length(3);
    expect(started).to.be.within(3, 3 + 2);
    await delay(100);
    expect(ran.reduce((count, flag) => count + flag, 0)).to.equal(started);
  });

  it('errors with BufferOverflowError when more than maxBuffered values wait', async () => {
    pool = threadPool({ script: opsScript, size: 1, queueDepth: 1 });
    const error = await errorOf(
      lastValueFrom(
        range(0, 10).pipe(
          map((n): Op => ({ op: 'sleep', n, ms: 5 })),
          pool.map({ maxBuffered: 3 }),
        ),
      ),
    );
    expect(isBufferOverflowError(error)).to.equal(true);
  });

  it('transfers ArrayBuffers both ways instead of copying them', async () => {
    pool = threadPool({ script: opsScript, size: 1 });
    const data = new Uint8Array([1, 2, 3, 4]);
    const reply = (await firstValueFrom(of<Op>({ op: 'bytes', data }).pipe(pool.map()))) as {
      received: number;
      sum: Float64Array;
    };
    expect(data.byteLength).to.equal(0); // moved: detached on this side
    expect(reply.received).to.equal(4);
    expect([...reply.sum]).to.deep.equal([10]);

    const copied = threadPool<Op, unknown>({ script: opsScript, size: 1, transfer: false });
    const kept = new Uint8Array([5]);
    await firstValueFrom(of<Op>({ op: 'bytes', data: kept }).pipe(copied.map()));
    expect(kept.byteLength).to.equal(1);
    await copied.close();
  });

  it('close() ends every worker and errors running subscriptions', async () => {
    const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const before = ports();
    pool = threadPool({ script: opsScript, size: 2 });
    const beat = new SharedArrayBuffer(4);
    const beats = new Int32Array(beat);
    const feed = new Subject<Op>();
    let failure: unknown;
    feed.pipe(pool.map()).subscribe({ error: (e: unknown) => (failure = e) });
    feed.next({ op: 'heartbeat', beat }); // a thread that keeps counting while alive
    feed.next({ op: 'sleep', n: 0, ms: 5_000 }); // keeps the second worker busy
    while (Atomics.load(beats, 0) < 3) await delay(5);
    expect(ports()).to.be.greaterThan(before);

    await pool.close();
    expect(isAbortedError(failure)).to.equal(true);
    const stopped = Atomics.load(beats, 0);
    await delay(50);
    expect(Atomics.load(beats, 0)).to.equal(stopped); // no heartbeat: the thread is gone
    expect(ports()).to.equal(before);
    const late = await errorOf(lastValueFrom(of<Op>({ op: 'square', n: 1 }).pipe(pool.map())));
    expect(isAbortedError(late)).to.equal(true);
  });
});
