import {
  Observable,
  Subscription,
  type Observer,
  type OperatorFunction,
  type Subscriber,
} from 'rxjs';
import { AbortedError, BufferOverflowError } from '../errors.js';
import {
  validateBoolean,
  validateInteger,
  validateObject,
  validateOptions,
} from '../internal/validate.js';
import { Pool, type Outcome, type Task, type TaskOwner } from './internal/Pool.js';
import { threadPlatform, type ThreadPlatform } from './platform.js';
import type { PoolEvent } from './poolEvents.js';

/** Options of {@link threadPool}. */
export interface ThreadPoolConfig {
  /**
   * The worker script, which calls `exposeWorker(fn)`: a URL (`new URL('./w.js',
   * import.meta.url)`), or in Node a file path. Browsers start it as a module worker.
   */
  script: string | URL;
  /** Worker threads at most (started on demand). Default: the number of logical cores. */
  size?: number;
  /**
   * Items posted to one worker at once (default 2): the one running plus the ones queued
   * behind it, so a worker never idles waiting for the next message.
   */
  queueDepth?: number;
  /** Move (not copy) ArrayBuffers found in values and results (default true). */
  transfer?: boolean;
}

/** Options of {@link ThreadPool.map}. */
export interface ThreadPoolMapConfig {
  /** Emit results in input order (default false: as they finish). */
  ordered?: boolean;
  /**
   * Values that may wait for a worker slot in this subscription (default Infinity, as
   * `mergeMap`); one more errors the output with `BufferOverflowError`.
   */
  maxBuffered?: number;
}

/** A pool of worker threads running one script. See {@link threadPool}. */
export interface ThreadPool<T, R> {
  readonly size: number;
  readonly queueDepth: number;
  /** Sends each value to a worker and emits what the worker's function returned. */
  map(config?: ThreadPoolMapConfig): OperatorFunction<T, R>;
  /**
   * Terminates every worker; resolves once they are gone. Running `map` subscriptions error
   * with `AbortedError`, later ones error at once.
   */
  close(): Promise<void>;
  /**
   * Worker deaths and replacements (hot, no replay; `at` is `Date.now()`, the pool having no
   * scheduler). `crashed {error}` when a worker dies: a `WorkerCrashedError`, the very one its
   * running item errors with (emitted just before that item's error), or, for a worker that died
   * loading its script, the pool's fatal `WorkerLoadError` (never followed by `replaced`: the
   * pool stops spawning). `replaced` when a worker is started in a crashed one's place: at once
   * if items were queued behind the crashed one, else with the next item. Nothing after `close`.
   */
  readonly events$: Observable<PoolEvent>;
}

/**
 * Goroutines on real cores: a pool of worker threads (worker_threads in Node, Web Workers in
 * browsers) running a script that calls `exposeWorker(fn)`, driven by the `map()` operator.
 *
 * Bounds: a subscription has at most `size × queueDepth` items out at once (posted to workers
 * or, when ordered, finished but not yet emitted); values beyond that wait in the
 * subscription, at most `maxBuffered` of them — like `mergeMap(work, size × queueDepth)`.
 * Unsubscribing cancels every waiting item: those not yet started never run (an item already
 * running finishes and its result is dropped). When a worker dies (`process.exit`, an uncaught
 * error) the item it was running errors with `WorkerCrashedError` (transient), the items
 * queued behind it go to other workers, and a new worker takes its place on demand. A script
 * that cannot load (syntax error, missing module, a throw before `exposeWorker`) is a
 * configuration error: every item of the pool, then and later, errors with one fatal `Error`
 * ("worker script … failed to load", the worker's error as `cause`) and no worker is respawned.
 * In Node a path or file: URL that is not a file is rejected when the pool is created. Items run
 * at most once: if the crash comes right after cancelled items whose drop the worker had not yet
 * confirmed, the first live item is the one blamed, even if it had not started. An error
 * thrown by the work function errors the output with a copy (name, message, stack, code).
 * Idle workers do not keep a Node process alive.
 *
 * ```
 * size 2, queueDepth 1; a takes 3 frames, b 1, c 4 (marbles/threadPool.marbles.ts)
 * input:            abc|
 * map():            --BA--(C|)
 * map({ordered}):   ---(AB)(C|)     B waits for A, and holds its slot until it is out
 * ```
 *
 * @example
 * const pool = threadPool<number, number>({ script: new URL('./square.worker.js', import.meta.url), size: 2 });
 * range(1, 100).pipe(pool.map({ ordered: true })).subscribe(console.log);
 * // later
 * await pool.close();
 */
export function threadPool<T, R>(config: ThreadPoolConfig): ThreadPool<T, R> {
  validateObject('config', config);
  return createThreadPool(config, threadPlatform());
}

/** {@link threadPool} on a given platform (the marble specs use an in-process one). */
export function createThreadPool<T, R>(
  config: ThreadPoolConfig,
  platform: ThreadPlatform,
): ThreadPool<T, R> {
  validateOptions('threadPool config', config, ['script', 'size', 'queueDepth', 'transfer']);
  const { script } = config;
  if (!(typeof script === 'string' && script.length > 0) && !(script instanceof URL)) {
    throw new TypeError('script must be a URL or a non-empty path string');
  }
  // A script that cannot start is a configuration error: say so here, naming it, not as a
  // transient crash at the first item.
  platform.checkScript?.(script);
  const size = validateInteger('size', config.size ?? platform.defaultSize(), 1);
  const queueDepth = validateInteger('queueDepth', config.queueDepth ?? 2, 1);
  const transfer = validateBoolean('transfer', config.transfer ?? true);
  const pool = new Pool(platform, script, size, queueDepth, transfer);
  return {
    size,
    queueDepth,
    map: (mapConfig?: ThreadPoolMapConfig) => {
      validateOptions('threadPool map config', mapConfig, ['ordered', 'maxBuffered']);
      const ordered = validateBoolean('ordered', mapConfig?.ordered ?? false);
      const maxBuffered = validateInteger('maxBuffered', mapConfig?.maxBuffered ?? Infinity, 0, {
        allowInfinity: true,
      });
      return (source) =>
        new Observable<R>((subscriber) =>
          new PoolRun<T, R>(pool, subscriber, ordered, maxBuffered).start(source),
        );
    },
    close: () => pool.close(),
    events$: pool.events.events$,
  };
}

/**
 * One `map` subscription: the source's subscriber (linked to the output before the source is
 * subscribed, so a synchronous source stops as soon as the output closes), its waiting values,
 * and (ordered) the results held until their turn.
 */
class PoolRun<T, R> extends Subscription implements Observer<T>, TaskOwner {
  readonly #waiting: T[] = [];
  #waitingHead = 0;
  /** Submitted and not yet emitted. */
  readonly #tasks = new Set<Task>();
  readonly #held = new Map<number, R>();
  #submitted = 0;
  #emitted = 0;
  #sourceDone = false;
  readonly #capacity: number;

  constructor(
    private readonly pool: Pool,
    private readonly destination: Subscriber<R>,
    private readonly ordered: boolean,
    private readonly maxBuffered: number,
  ) {
    super();
    this.#capacity = pool.size * pool.queueDepth;
  }

  start(source: Observable<T>): void {
    if (this.pool.closed) {
      this.destination.error(new AbortedError('thread pool closed'));
      return;
    }
    if (this.pool.loadError) {
      this.destination.error(this.pool.loadError);
      return;
    }
    this.pool.register(this);
    this.destination.add(this);
    this.destination.add(() => {
      this.#waiting.length = 0;
      this.#held.clear();
      this.pool.release(this, this.#tasks);
    });
    source.subscribe(this);
  }

  next(value: T): void {
    if (this.closed) return;
    this.#waiting.push(value);
    this.#refill();
    if (this.#waiting.length - this.#waitingHead > this.maxBuffered) {
      this.fail(new BufferOverflowError(this.maxBuffered));
    }
  }

  error(error: unknown): void {
    if (!this.closed) this.fail(error);
  }

  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    this.#sourceDone = true;
    this.#maybeComplete();
  }

  fail(error: unknown): void {
    this.unsubscribe();
    this.destination.error(error);
  }

  /** A worker answered for `task` (called by the pool). */
  settle(task: Task, outcome: Outcome): void {
    if (!outcome.ok) {
      this.fail(outcome.error);
      return;
    }
    this.#tasks.delete(task);
    if (this.ordered) {
      this.#held.set(task.index, outcome.value as R);
      while (this.#held.has(this.#emitted) && !this.destination.closed) {
        const value = this.#held.get(this.#emitted) as R;
        this.#held.delete(this.#emitted++);
        this.destination.next(value);
      }
    } else {
      this.#emitted++;
      this.destination.next(outcome.value as R);
    }
    this.#refill();
    this.#maybeComplete();
  }

  /** Submits waiting values while fewer than `size × queueDepth` are out. */
  #refill(): void {
    while (
      this.#waitingHead < this.#waiting.length &&
      this.#submitted - this.#emitted < this.#capacity &&
      !this.destination.closed
    ) {
      const value = this.#waiting[this.#waitingHead];
      this.#waiting[this.#waitingHead++] = undefined as T;
      if (this.#waitingHead === this.#waiting.length) {
        this.#waiting.length = 0;
        this.#waitingHead = 0;
      }
      this.#tasks.add(this.pool.submit(this, value, this.#submitted++));
    }
  }

  #maybeComplete(): void {
    if (
      this.#sourceDone &&
      this.#submitted === this.#emitted &&
      this.#waitingHead === this.#waiting.length &&
      !this.destination.closed
    ) {
      this.destination.complete();
    }
  }
}
