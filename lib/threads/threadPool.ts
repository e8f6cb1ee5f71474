import {
  Observable,
  Subscription,
  type Observer,
  type OperatorFunction,
  type Subscriber,
} from 'rxjs';
import {
  AbortedError,
  BufferOverflowError,
  WorkerCrashedError,
  WorkerLoadError,
} from '../errors.js';
import {
  validateBoolean,
  validateInteger,
  validateObject,
  validateOptions,
} from '../internal/validate.js';
import { threadPlatform, type ThreadPlatform, type WorkerHandle } from './platform.js';
import { reviveError, transferablesOf, type FromWorker } from './protocol.js';

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
  };
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The subscription a task belongs to, as the pool sees it. */
interface TaskOwner {
  settle(task: Task, outcome: Outcome): void;
  fail(error: unknown): void;
}

interface Task {
  readonly id: number;
  readonly value: unknown;
  /** Position in its subscription's input. */
  readonly index: number;
  /** Who wants the result; null once cancelled or settled. */
  run: TaskOwner | null;
}

interface Slot {
  handle: WorkerHandle;
  /** The worker's script has loaded (it sent 'ready'); a death before that is a load failure. */
  ready: boolean;
  /** Posted and not answered, in posting order: the first one is running. */
  readonly inflight: Map<number, Task>;
}

/** The workers and the tasks ready for them, shared by every `map` subscription. */
class Pool {
  readonly #workers = new Set<Slot>();
  /** Tasks ready to post; at most `size × queueDepth` per subscription. */
  readonly #ready: Task[] = [];
  readonly #runs = new Set<TaskOwner>();
  #nextId = 0;
  #pumping = false;
  #closing: Promise<void> | null = null;
  /** Set when a worker died before its script loaded: every item fails with it from then on. */
  #loadError: Error | null = null;

  constructor(
    private readonly platform: ThreadPlatform,
    private readonly script: string | URL,
    readonly size: number,
    readonly queueDepth: number,
    private readonly transfer: boolean,
  ) {}

  get closed(): boolean {
    return this.#closing !== null;
  }

  /** Why the script cannot load, once a worker showed it; null while none has failed so. */
  get loadError(): Error | null {
    return this.#loadError;
  }

  register(run: TaskOwner): void {
    this.#runs.add(run);
  }

  submit(run: TaskOwner, value: unknown, index: number): Task {
    const task: Task = { id: this.#nextId++, value, index, run };
    this.#ready.push(task);
    this.#pump();
    return task;
  }

  /** Forgets a subscription: its ready tasks are dropped, its posted ones cancelled. */
  release(run: TaskOwner, tasks: Iterable<Task>): void {
    this.#runs.delete(run);
    for (const task of tasks) task.run = null;
    removeCancelled(this.#ready);
    for (const slot of this.#workers) {
      let first = true;
      for (const task of slot.inflight.values()) {
        // The first is running and cannot be stopped; its result will be dropped.
        if (task.run === null && !first) slot.handle.post({ t: 'cancel', id: task.id }, []);
        first = false;
      }
    }
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const slots = [...this.#workers];
    this.#workers.clear();
    this.#ready.length = 0;
    this.#closing = Promise.all(slots.map((slot) => slot.handle.terminate())).then(() => undefined);
    for (const run of [...this.#runs]) run.fail(new AbortedError('thread pool closed'));
    this.#runs.clear();
    return this.#closing;
  }

  /** Posts ready tasks while a worker has room (a drain loop: callbacks may submit more). */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#ready.length > 0 && !this.closed) {
        if (this.#loadError) {
          this.#settle(this.#ready.shift()!, { ok: false, error: this.#loadError });
          continue;
        }
        let slot: Slot | undefined;
        try {
          slot = this.#pickSlot();
        } catch (error) {
          this.#settle(this.#ready.shift()!, { ok: false, error }); // the worker did not start
          continue;
        }
        if (!slot) break;
        this.#post(slot, this.#ready.shift()!);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** An idle worker, else a new one, else the least busy with room, else none. */
  #pickSlot(): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of this.#workers) {
      const load = slot.inflight.size;
      if (load === 0) return slot;
      if (load < this.queueDepth && (!best || load < best.inflight.size)) best = slot;
    }
    return this.#workers.size < this.size ? this.#spawn() : best;
  }

  #spawn(): Slot {
    const slot = { inflight: new Map<number, Task>(), ready: false } as Slot;
    slot.handle = this.platform.spawn(this.script, {
      message: (message) => this.#onMessage(slot, message),
      crash: (cause) => this.#onCrash(slot, cause),
    });
    this.#workers.add(slot);
    return slot;
  }

  #post(slot: Slot, task: Task): void {
    slot.inflight.set(task.id, task);
    if (slot.inflight.size === 1) slot.handle.setBusy(true);
    try {
      const transfer = this.transfer ? transferablesOf(task.value) : [];
      slot.handle.post({ t: 'run', id: task.id, value: task.value }, transfer);
    } catch (error) {
      this.#answered(slot, task.id); // e.g. DataCloneError: the value cannot cross threads
      this.#settle(task, { ok: false, error });
    }
  }

  #answered(slot: Slot, id: number): Task | undefined {
    const task = slot.inflight.get(id);
    if (!task) return undefined;
    slot.inflight.delete(id);
    if (slot.inflight.size === 0) slot.handle.setBusy(false);
    return task;
  }

  #settle(task: Task, outcome: Outcome): void {
    const { run } = task;
    task.run = null;
    run?.settle(task, outcome);
  }

  #onMessage(slot: Slot, message: FromWorker): void {
    if (message.t === 'ready') {
      slot.ready = true;
      return;
    }
    const task = this.#answered(slot, message.id);
    if (task && message.t !== 'dropped') {
      this.#settle(
        task,
        message.t === 'done'
          ? { ok: true, value: message.value }
          : { ok: false, error: reviveError(message.error) },
      );
    }
    this.#pump();
  }

  /**
   * A worker died before its script loaded: every worker would, so the pool stops spawning and
   * every item, now and later, fails with one fatal error (a configuration error, not a crash).
   */
  #failToLoad(slot: Slot, cause: unknown): void {
    this.#loadError ??= loadFailure(this.script, cause);
    const error = this.#loadError;
    for (const task of slot.inflight.values()) this.#settle(task, { ok: false, error });
    slot.inflight.clear();
    this.#pump(); // settles the ready tasks with the same error
  }

  #onCrash(slot: Slot, cause: unknown): void {
    if (!this.#workers.delete(slot)) return;
    if (!slot.ready) {
      this.#failToLoad(slot, cause);
      return;
    }
    const tasks = [...slot.inflight.values()];
    slot.inflight.clear();
    // The worker runs items in posting order. Cancelled items ahead of the first live one may
    // have been dropped by the worker before it crashed, their answer lost with it; then that
    // live item was running. Blame it rather than run it twice: items run at most once.
    const firstLive = tasks.findIndex((task) => task.run !== null);
    const [running, ...queued] = firstLive > 0 ? tasks.slice(firstLive) : tasks;
    // Queued items never started: they go first to the next free worker.
    this.#ready.unshift(...queued.filter((task) => task.run !== null));
    if (running) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      const error = new WorkerCrashedError(`worker crashed while processing this item: ${reason}`, {
        cause,
      });
      this.#settle(running, { ok: false, error });
    }
    this.#pump();
  }
}

/**
 * The error for a script that died before `exposeWorker` ran (syntax error, missing module,
 * throw at load, no such file): fatal, so `isTransient` says false and retrying stops.
 */
function loadFailure(script: string | URL, cause: unknown): WorkerLoadError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const name = String(script);
  const shown = name.length > 200 ? `${name.slice(0, 200)}…` : name;
  return new WorkerLoadError(name, `worker script ${shown} failed to load: ${reason}`, { cause });
}

function removeCancelled(tasks: Task[]): void {
  let kept = 0;
  for (const task of tasks) if (task.run !== null) tasks[kept++] = task;
  tasks.length = kept;
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
