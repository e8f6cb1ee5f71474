import { Subject, type Observable, type SchedulerLike } from 'rxjs';

/** `Omit` applied to each member of a union, so a discriminated union stays discriminated. */
export type WithoutAt<E> = E extends unknown ? Omit<E, 'at'> : never;

/**
 * The `events$` of a stateful primitive: hot, no replay, each event stamped with `at` from the
 * primitive's scheduler. Callers test {@link EventStream.observed} before building an event, so a
 * primitive nobody watches pays one branch per hot-path call and allocates nothing.
 *
 * @example
 * if (this.#events.observed) this.#events.emit({ type: 'admitted' });
 */
export class EventStream<E extends { readonly type: string; readonly at: number }> {
  readonly #subject = new Subject<E>();
  /** The public Observable: subscribers share the one Subject; nothing is replayed. */
  readonly events$: Observable<E> = this.#subject.asObservable();

  constructor(private readonly scheduler: Pick<SchedulerLike, 'now'>) {}

  /** True while at least one subscriber listens: only then is an event worth building. */
  get observed(): boolean {
    return this.#subject.observed;
  }

  /** Stamps `event` with `at = scheduler.now()` and delivers it (a no-op with no subscriber). */
  emit(event: WithoutAt<E>): void {
    if (!this.#subject.observed) return;
    this.#subject.next({ ...event, at: this.scheduler.now() } as unknown as E);
  }
}
