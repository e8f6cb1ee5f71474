import type { SchedulerLike } from 'rxjs';

/** A clock for limiter specs: `now()` returns `time`, which the spec sets. Never schedules. */
export function manualClock(): SchedulerLike & { time: number } {
  return {
    time: 0,
    now() {
      return this.time;
    },
    schedule() {
      throw new Error('manualClock does not schedule');
    },
  };
}
