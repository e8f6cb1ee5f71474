import { AbortedError, WorkerCrashedError, WorkerLoadError } from '../../errors.js';
import { EventStream } from '../../internal/EventStream.js';
import type { ThreadPlatform, WorkerHandle } from '../platform.js';
import type { PoolEvent } from '../poolEvents.js';
import { reviveError, transferablesOf, type FromWorker } from '../protocol.js';

/**
 * The clock of `ThreadPool.events$`: a pool has no scheduler (workers run in real time), and
 * `Date.now()` is what `asyncScheduler.now()`, the other primitives' default, reads.
 */
const POOL_CLOCK = { now: () => Date.now() };

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The subscription a task belongs to, as the pool sees it. */
export interface TaskOwner {
  settle(task: Task, outcome: Outcome): void;
  fail(error: unknown): void;
}

export interface Task {
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

/**
 * The workers and the tasks ready for them, shared by every `map` subscription of one
 * `threadPool`: spawning on demand, posting, answers, crashes and load failures.
 */
export class Pool {
  readonly #workers = new Set<Slot>();
  /** Tasks ready to post; at most `size × queueDepth` per subscription. */
  readonly #ready: Task[] = [];
  readonly #runs = new Set<TaskOwner>();
  #nextId = 0;
  #pumping = false;
  #closing: Promise<void> | null = null;
  /** Set when a worker died before its script loaded: every item fails with it from then on. */
  #loadError: Error | null = null;
  /** Workers that crashed and have not been replaced yet: the next spawns replace them. */
  #unreplaced = 0;
  /** `crashed` and `replaced`, see `ThreadPool.events$`. */
  readonly events = new EventStream<PoolEvent>(POOL_CLOCK);

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
    if (this.#unreplaced > 0) {
      this.#unreplaced--;
      this.events.emit({ type: 'replaced' });
    }
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
    this.events.emit({ type: 'crashed', error });
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
    this.#unreplaced++;
    if (running || this.events.observed) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      const what = running ? 'while processing this item' : 'between items';
      const error = new WorkerCrashedError(`worker crashed ${what}: ${reason}`, { cause });
      this.events.emit({ type: 'crashed', error });
      if (running) this.#settle(running, { ok: false, error });
    }
    this.#pump(); // a new worker for the queued items, if any: `replaced`
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
