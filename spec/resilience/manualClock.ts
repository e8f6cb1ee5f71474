import { Subscription, type SchedulerAction, type SchedulerLike } from 'rxjs';

/**
 * A scheduler whose time only moves when a test calls `advance`. Counts pending timers, so
 * specs can check the breaker's "no timer per call, one timer only while observed" rule.
 */
export class ManualClock implements SchedulerLike {
  private time = 0;
  private readonly queue: { at: number; run: () => void; sub: Subscription }[] = [];

  now(): number {
    return this.time;
  }

  get pending(): number {
    return this.queue.length;
  }

  schedule<T>(
    work: (this: SchedulerAction<T>, state?: T) => void,
    delay = 0,
    state?: T,
  ): Subscription {
    const sub = new Subscription();
    // The breaker never reschedules from inside its work, so the action is only a Subscription.
    const run = () => work.call(sub as SchedulerAction<T>, state);
    const entry = { at: this.time + delay, run, sub };
    entry.sub.add(() => {
      const i = this.queue.indexOf(entry);
      if (i >= 0) this.queue.splice(i, 1);
    });
    this.queue.push(entry);
    return entry.sub;
  }

  /** Moves time forward by `ms`, running due timers in time order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.queue.filter((e) => e.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.time = Math.max(this.time, due.at);
      due.sub.unsubscribe();
      due.run();
    }
    this.time = end;
  }
}
