/**
 * Schedulers with a faulty clock, for drift specs: a process whose clock runs `rate` times real
 * speed (0.99 = 1 % slow, 1.01 = 1 % fast), and one whose timers fire `earlyMs` before they are
 * due. Both keep `now()` and `schedule()` consistent with each other as a real faulty machine
 * would: a 1 % slow clock also waits 1 % longer in real time for each timer it sets.
 */
import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';

export interface DriftConfig {
  /** Clock speed relative to real time. Default 1. */
  rate?: number;
  /** Timers fire this many ms before they are due (by this scheduler's own clock). Default 0. */
  earlyMs?: number;
}

/** A SchedulerLike whose clock runs at `rate` and whose timers fire `earlyMs` early. */
export function driftScheduler({ rate = 1, earlyMs = 0 }: DriftConfig): SchedulerLike {
  const origin = Date.now();
  const now = () => origin + (Date.now() - origin) * rate;
  return {
    now,
    schedule<T>(
      work: (this: SchedulerAction<T>, state?: T) => void,
      delay = 0,
      state?: T,
    ): Subscription {
      const realDelay = Math.max(0, (delay - earlyMs) / rate);
      return asyncScheduler.schedule(work, realDelay, state);
    },
  };
}

/** The drifts every lease and leadership must survive without two holders at once. */
export const DRIFTS: readonly { name: string; config: DriftConfig }[] = [
  { name: 'a clock 1 % slow', config: { rate: 0.99 } },
  { name: 'a clock 1 % fast', config: { rate: 1.01 } },
  { name: 'timers firing 2 ms early', config: { earlyMs: 2 } },
];
