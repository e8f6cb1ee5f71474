import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';

/** The scheduler option, defaulting to `asyncScheduler`; validated at creation. */
export function resolveScheduler(scheduler: SchedulerLike | undefined): SchedulerLike {
  if (scheduler === undefined) return asyncScheduler;
  if (
    typeof scheduler !== 'object' ||
    scheduler === null ||
    typeof scheduler.now !== 'function' ||
    typeof scheduler.schedule !== 'function'
  ) {
    throw new TypeError('scheduler must be a SchedulerLike (with now() and schedule())');
  }
  return scheduler;
}

/**
 * Runs `fn` once after `delayMs` on `scheduler` (so `TestScheduler.run` drives it). The returned
 * Subscription cancels it.
 */
export function scheduleOnce(
  scheduler: SchedulerLike,
  delayMs: number,
  fn: () => void,
): Subscription {
  return scheduler.schedule(fn, Math.max(0, delayMs));
}
