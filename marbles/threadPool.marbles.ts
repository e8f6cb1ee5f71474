import { expect } from 'chai';
import { catchError, of, type Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { isBufferOverflowError, isWorkerCrashedError } from '../lib/errors.js';
import type { ThreadPlatform } from '../lib/threads/platform.js';
import type { FromWorker } from '../lib/threads/protocol.js';
import { createThreadPool, type ThreadPoolConfig } from '../lib/threads/threadPool.js';
import { createTestScheduler } from '../lib/testing/index.js';

/**
 * Worker threads in virtual time: each worker runs its items one at a time, item `v` takes
 * `frames[v]` frames (default 1) and returns `v.toUpperCase()`; `x` crashes the worker when it
 * ends, `e` throws. `started` lists the items that began running. A cancelled item's 'dropped'
 * answer arrives `droppedDelay` frames after the worker dropped it. With `loadFails` every
 * worker dies one frame after it starts, before its script has said 'ready'.
 */
function virtualThreads(
  scheduler: TestScheduler,
  frames: Record<string, number> = {},
  droppedDelay = 0,
  loadFails = false,
) {
  const log = { started: [] as string[], spawned: 0, terminated: 0 };
  const platform: ThreadPlatform = {
    defaultSize: () => 2,
    spawn(_script, events) {
      log.spawned++;
      const queue: { id: number; value: string }[] = [];
      let running = false;
      let dead = loadFails;
      // The script loads in the frame the worker starts (or fails to, one frame later).
      if (loadFails) scheduler.schedule(() => events.crash(new SyntaxError('bad script')), 1);
      else scheduler.schedule(() => events.message({ t: 'ready' }));
      const reply = (message: FromWorker, delay = 0) =>
        scheduler.schedule(() => {
          if (!dead) events.message(message);
        }, delay);
      const startNext = () => {
        const item = running || dead ? undefined : queue.shift();
        if (!item) return;
        running = true;
        log.started.push(item.value);
        scheduler.schedule(() => {
          if (dead) return;
          running = false;
          if (item.value === 'x') {
            dead = true;
            events.crash(new Error('boom'));
            return;
          }
          reply(
            item.value === 'e'
              ? { t: 'fail', id: item.id, error: { name: 'TypeError', message: 'bad e' } }
              : { t: 'done', id: item.id, value: item.value.toUpperCase() },
          );
          startNext();
        }, frames[item.value] ?? 1);
      };
      return {
        post(message) {
          if (message.t === 'run') {
            queue.push({ id: message.id, value: message.value as string });
            startNext();
          } else {
            const at = queue.findIndex((item) => item.id === message.id);
            if (at >= 0) {
              queue.splice(at, 1);
              reply({ t: 'dropped', id: message.id }, droppedDelay);
            }
          }
        },
        setBusy: () => undefined,
        terminate() {
          dead = true;
          log.terminated++;
          return Promise.resolve();
        },
      };
    },
  };
  const pool = (config: Omit<ThreadPoolConfig, 'script'> = {}) =>
    createThreadPool<string, string>({ script: 'virtual.js', ...config }, platform);
  return { pool, log };
}

/** Errors as one letter value: X crashed, O overflow, L failed to load, else the message. */
const caught = (source: Observable<string>) =>
  source.pipe(
    catchError((e: unknown) =>
      of(
        isWorkerCrashedError(e)
          ? 'X'
          : isBufferOverflowError(e)
            ? 'O'
            : /failed to load/.test((e as Error).message)
              ? 'L'
              : (e as Error).message,
      ),
    ),
  );

describe('threadPool (marbles)', () => {
  let scheduler: TestScheduler;
  beforeEach(() => (scheduler = createTestScheduler()));

  it('emits results as workers finish; ordered mode emits in input order', () => {
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { pool } = virtualThreads(scheduler, { a: 3, c: 4 });
      const input = cold('abc|');
      const config = { size: 2, queueDepth: 1 };
      expectObservable(input.pipe(pool(config).map())).toBe('--BA--(C|)');
      // B, held until A is out, still counts against size × queueDepth: c starts at 3, not 2.
      expectObservable(input.pipe(pool(config).map({ ordered: true }))).toBe('---(AB)(C|)');
      expectSubscriptions(input.subscriptions).toBe(['^--!', '^--!']);
    });
  });

  it('queues up to queueDepth items per worker, the rest wait in the subscription', () => {
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { pool, log } = virtualThreads(scheduler, { a: 2, b: 2, c: 2 });
      const input = cold('abc|');
      expectObservable(input.pipe(pool({ size: 1, queueDepth: 2 }).map())).toBe('--A-B-(C|)');
      expectSubscriptions(input.subscriptions).toBe('^--!');
      scheduler.flush();
      expect(log.spawned).to.equal(1);
    });
  });

  it('a crash right after cancelled items blames the first live item: items run at most once', () => {
    scheduler.run(({ cold, expectObservable }) => {
      // One worker holds a (running) and b from one subscription, x from another. The first
      // subscription leaves: b is dropped by the worker, but its 'dropped' answer is still in
      // transit when x, now running, crashes the worker. x must error, not run again.
      const { pool, log } = virtualThreads(scheduler, { a: 3, x: 1 }, 10);
      const shared = pool({ size: 1, queueDepth: 3 });
      expectObservable(cold('(ab)').pipe(shared.map()), '^!').toBe('-');
      expectObservable(caught(cold('x').pipe(shared.map()))).toBe('----(X|)');
      scheduler.flush();
      expect(log.started).to.deep.equal(['a', 'x']);
    });
  });

  it('unsubscribing cancels queued items: they never start', () => {
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { pool, log } = virtualThreads(scheduler, { a: 3, b: 3, c: 3, d: 3 });
      const input = cold('abcd|');
      expectObservable(input.pipe(pool({ size: 1, queueDepth: 2 }).map()), '^---!').toBe('---A');
      expectSubscriptions(input.subscriptions).toBe('^---!');
      scheduler.flush();
      expect(log.started).to.deep.equal(['a', 'b']); // c was queued in the worker, d in the run
    });
  });

  it('a crash errors the running item with WorkerCrashedError; a new worker takes over', () => {
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { pool, log } = virtualThreads(scheduler, { x: 2 });
      const threads = pool({ size: 1, queueDepth: 2 });
      const crashing = cold('xa|');
      const bystander = cold('-b|'); // queued behind x on the same worker
      const later = cold('-----c|');
      expectObservable(caught(crashing.pipe(threads.map()))).toBe('--(X|)');
      expectObservable(bystander.pipe(threads.map())).toBe('---(B|)');
      expectObservable(later.pipe(threads.map())).toBe('------(C|)');
      expectSubscriptions(crashing.subscriptions).toBe('^-!');
      expectSubscriptions(bystander.subscriptions).toBe('^-!');
      scheduler.flush();
      expect(log.spawned).to.equal(2);
      expect(log.started).to.deep.equal(['x', 'b', 'c']); // a was cancelled, never ran
    });
  });

  it('an error from the work function errors the output and unsubscribes the source', () => {
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { pool } = virtualThreads(scheduler);
      const input = cold('ae-b|');
      expectObservable(caught(input.pipe(pool({ size: 2 }).map()))).toBe('-A(y|)', {
        A: 'A',
        y: 'bad e',
      });
      expectSubscriptions(input.subscriptions).toBe('^-!');
    });
  });

  it('a source error passes through at once; the running item is dropped', () => {
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { pool } = virtualThreads(scheduler, { a: 4 });
      const input = cold('a-#');
      expectObservable(input.pipe(pool({ size: 1 }).map())).toBe('--#');
      expectSubscriptions(input.subscriptions).toBe('^-!');
    });
  });

  it('errors with BufferOverflowError when more than maxBuffered values wait', () => {
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { pool } = virtualThreads(scheduler, { a: 5, b: 5, c: 5 });
      const input = cold('abc|');
      const threads = pool({ size: 1, queueDepth: 1 });
      expectObservable(caught(input.pipe(threads.map({ maxBuffered: 1 })))).toBe('--(O|)');
      expectSubscriptions(input.subscriptions).toBe('^-!');
    });
  });

  it('close() terminates the workers and errors running subscriptions', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const { pool, log } = virtualThreads(scheduler, { a: 5 });
      const threads = pool({ size: 2 });
      expectObservable(caught(cold('ab|').pipe(threads.map()))).toBe('--(z|)', {
        z: 'thread pool closed',
      });
      scheduler.schedule(() => void threads.close(), 2);
      scheduler.flush();
      expect([log.spawned, log.terminated]).to.deep.equal([2, 2]);
    });
  });

  it('a script that fails to load errors every item with one fatal error; no worker respawns', () => {
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { pool, log } = virtualThreads(scheduler, {}, 0, true);
      const threads = pool({ size: 2, queueDepth: 1 });
      const first = cold('abc|');
      const second = cold('-d|');
      const later = cold('e|');
      expectObservable(caught(first.pipe(threads.map()))).toBe('-(L|)');
      expectObservable(caught(second.pipe(threads.map()))).toBe('-(L|)');
      // The pool knows: a later subscription errors at once, without subscribing the source.
      expectObservable(caught(later.pipe(threads.map())), '---^').toBe('---(L|)');
      expectSubscriptions(first.subscriptions).toBe('^!');
      expectSubscriptions(second.subscriptions).toBe('^!');
      expectSubscriptions(later.subscriptions).toBe([]);
      scheduler.flush();
      expect(log.spawned).to.equal(2);
      expect(log.started).to.deep.equal([]);
    });
  });
});
