import type { SchedulerLike, Subscription } from 'rxjs';
import { AbortedError, isBackendUnavailableError, LockTimeoutError } from '../errors.js';
import { scheduleOnce } from '../internal/scheduler.js';
import type { LockEvents } from '../lock/LeaseEnd.js';

/** Options of {@link WaitLoop}. */
export interface WaitLoopOptions {
  key: string;
  waitMs: number;
  recheckMs: number;
  signal: AbortSignal | undefined;
  scheduler: SchedulerLike;
  /** Where the outcome is reported: the lease `acquired`, a `LockTimeoutError` as `timeout`. */
  events: LockEvents;
  /** When the acquire began (scheduler time), for `waitedMs`. */
  startedAt: number;
  /**
   * One acquire attempt. It ends the wait through `succeed` / `fail`; a rejection with a
   * `BackendUnavailableError` keeps waiting (it becomes the error of a later timeout), any other
   * rejection ends the wait with it.
   */
  round: () => Promise<void>;
  /** Runs once as the wait ends, before the promise settles (`error` undefined: acquired). */
  onEnd: (error: Error | undefined) => void;
}

/**
 * The bookkeeping every Redis waiter shares: rounds run one at a time (asking for one while
 * another is in flight runs it right after), a round every `recheckMs` whatever else happens
 * (lost wake-ups, expired holders), and the end of the wait by `waitMs` (`LockTimeoutError`, or
 * the last `BackendUnavailableError`) or `signal` (`AbortedError`). The lease it resolves with is
 * announced on `events` (only that one: a lease a round gets after the wait ended reaches nobody),
 * a `LockTimeoutError` is reported as `timeout`. Internal.
 *
 * @example
 * new Promise<Lease>((resolve, reject) => {
 *   const loop = new WaitLoop({ ...options, round: async () => { if (await tryIt()) loop.succeed(lease); } }, resolve, reject);
 *   loop.start();
 * });
 */
export class WaitLoop<L extends { announce(events: LockEvents, startedAt: number): void }> {
  /** True once the wait has ended (acquired, failed, timed out or aborted). */
  finished = false;
  private busy = false;
  private pending = false;
  private lastError: Error | undefined;
  private recheck: Subscription | undefined;
  private deadline: Subscription | undefined;

  constructor(
    private readonly options: WaitLoopOptions,
    private readonly resolve: (lease: L) => void,
    private readonly reject: (error: Error) => void,
  ) {}

  /** Arms the abort listener, the deadline and the re-check timer. */
  start(): void {
    const { key, waitMs, signal, scheduler } = this.options;
    signal?.addEventListener('abort', this.onAbort);
    if (waitMs !== Number.POSITIVE_INFINITY) {
      this.deadline = scheduleOnce(scheduler, waitMs, () =>
        this.fail(this.lastError ?? new LockTimeoutError(key, waitMs)),
      );
    }
    this.scheduleRecheck();
  }

  /** Runs a round now, or right after the one in flight. */
  readonly run = (): void => {
    if (this.finished) return;
    if (this.busy) {
      this.pending = true;
      return;
    }
    this.busy = true;
    this.pending = false;
    this.options.round().then(
      () => this.settled(undefined),
      (e: Error) => this.settled(e),
    );
  };

  succeed(lease: L): void {
    if (!this.end(undefined)) return;
    lease.announce(this.options.events, this.options.startedAt);
    this.resolve(lease);
  }

  fail(error: Error): void {
    if (!this.end(error)) return;
    if (error instanceof LockTimeoutError) {
      this.options.events.timeout(this.options.key, this.options.startedAt);
    }
    this.reject(error);
  }

  private settled(error: Error | undefined): void {
    this.busy = false;
    this.lastError = error;
    if (error !== undefined && !isBackendUnavailableError(error)) this.fail(error);
    else if (this.pending) this.run();
  }

  private end(error: Error | undefined): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.recheck?.unsubscribe();
    this.deadline?.unsubscribe();
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.options.onEnd(error);
    return true;
  }

  private readonly onAbort = () =>
    this.fail(new AbortedError(`acquire of lock "${this.options.key}" aborted`));

  private scheduleRecheck(): void {
    this.recheck = scheduleOnce(this.options.scheduler, this.options.recheckMs, () => {
      this.run();
      this.scheduleRecheck();
    });
  }
}
