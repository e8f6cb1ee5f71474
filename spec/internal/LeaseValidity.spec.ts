import { expect } from 'chai';
import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { driftAllowanceMs, LeaseValidity } from '../../lib/internal/LeaseValidity.js';
import { ManualClock } from '../resilience/manualClock.js';

/** The manual clock, but every timer fires `earlyMs` before it is due. */
function early(clock: ManualClock, earlyMs: number): SchedulerLike {
  return {
    now: () => clock.now(),
    schedule<T>(work: (this: SchedulerAction<T>, s?: T) => void, delay = 0, s?: T): Subscription {
      // Early by up to earlyMs, but a timer never fires before it was set.
      return clock.schedule(work, Math.max(Math.min(delay, 1), delay - earlyMs), s);
    },
  };
}

describe('LeaseValidity', () => {
  it('allows 1 % of the TTL plus 2 ms of drift', () => {
    expect(driftAllowanceMs(10_000)).to.equal(102);
    expect(driftAllowanceMs(2)).to.equal(2);
  });

  it('is valid from a confirmed proof until send time + TTL - drift, then expires once', () => {
    const clock = new ManualClock();
    let expired = 0;
    const validity = new LeaseValidity(clock, () => expired++);
    expect(validity.isValid()).to.equal(false);
    expired = 0;
    const v2 = new LeaseValidity(clock, () => expired++);
    clock.advance(50);
    expect(v2.confirm(0, 1000)).to.equal(true);
    expect(v2.validUntil).to.equal(1000 - 12);
    clock.advance(1000 - 12 - 50 - 1);
    expect(v2.isValid()).to.equal(true);
    clock.advance(1);
    expect(v2.isValid()).to.equal(false);
    expect(v2.isValid()).to.equal(false);
    expect(expired).to.equal(1);
  });

  it('rejects a proof whose reply came after its own validity, and never moves back', () => {
    const clock = new ManualClock();
    const validity = new LeaseValidity(clock, () => undefined);
    clock.advance(2000);
    expect(validity.confirm(0, 1000)).to.equal(false);
    expect(validity.confirm(1900, 1000)).to.equal(true);
    const until = validity.validUntil;
    expect(validity.confirm(1950, 100)).to.equal(true);
    expect(validity.validUntil).to.equal(until);
  });

  it('re-arms when its timer fires early, so expiry is never missed nor premature', () => {
    const clock = new ManualClock();
    let expiredAt: number | undefined;
    const validity = new LeaseValidity(early(clock, 2), () => (expiredAt = clock.now()));
    validity.confirm(0, 1000);
    validity.arm();
    clock.advance(985);
    expect(expiredAt).to.equal(undefined);
    expect(clock.pending).to.equal(1);
    clock.advance(3);
    expect(expiredAt).to.equal(988);
    expect(clock.pending).to.equal(0);
  });

  it('moves its timer when a later proof arrives, and disarm leaves no timer', () => {
    const clock = new ManualClock();
    let expired = false;
    const validity = new LeaseValidity(clock, () => (expired = true));
    validity.confirm(0, 1000);
    validity.arm();
    clock.advance(500);
    validity.confirm(500, 1000);
    clock.advance(500);
    expect(expired).to.equal(false);
    clock.advance(488);
    expect(expired).to.equal(true);
    const other = new LeaseValidity(clock, () => undefined);
    other.confirm(clock.now(), 1000);
    other.arm();
    expect(clock.pending).to.equal(1);
    other.disarm();
    expect(clock.pending).to.equal(0);
  });
});
