// MemoryLocks' events$ in virtual time: every event's order, fields and exact `at`.
import { expect } from 'chai';
import { firstValueFrom, VirtualTimeScheduler } from 'rxjs';
import { isLockLostError, LockLostError } from '../../lib/errors.js';
import { lock$ } from '../../lib/lock/lock.js';
import type { LockEvent, LockLease } from '../../lib/lock/LockBackend.js';
import { MemoryLocks } from '../../lib/lock/MemoryLocks.js';

/** A MemoryLocks on a virtual clock, its events as they come, and steps at virtual times. */
function setup() {
  const scheduler = new VirtualTimeScheduler();
  const locks = new MemoryLocks({ scheduler });
  const events: LockEvent[] = [];
  const sub = locks.events$.subscribe((e) => events.push(e));
  const at = (ms: number, step: () => void) => scheduler.schedule(step, ms);
  return { scheduler, locks, events, sub, at };
}

/** Takes the lease `acquire$` emits (synchronously, or once granted). */
function take(locks: MemoryLocks, key: string, options = {}, onError?: (e: unknown) => void) {
  const got: { lease?: LockLease; error?: unknown } = {};
  locks.acquire$(key, options).subscribe({
    next: (lease) => (got.lease = lease),
    error: (e: unknown) => {
      got.error = e;
      onError?.(e);
    },
  });
  return got;
}

describe('MemoryLocks events$ (virtual time)', () => {
  it('reports acquired (waitedMs 0), extended and released (heldMs) at scheduler time', () => {
    const { scheduler, locks, events, at } = setup();
    let a: { lease?: LockLease } = {};
    at(5, () => (a = take(locks, 'k', { ttlMs: 100 })));
    at(15, () => void a.lease!.extend());
    at(40, () => void a.lease!.release());
    at(41, () => void a.lease!.release()); // idempotent: no second event
    scheduler.flush();
    expect(events).to.deep.equal([
      { type: 'acquired', key: 'k', fence: 1n, waitedMs: 0, at: 5 },
      { type: 'extended', key: 'k', fence: 1n, at: 15 },
      { type: 'released', key: 'k', fence: 1n, heldMs: 35, at: 40 },
    ]);
  });

  it('reports timeouts with their wait, and a hand-off as released before acquired', () => {
    const { scheduler, locks, events, at } = setup();
    let a: { lease?: LockLease } = {};
    let b: { lease?: LockLease } = {};
    at(0, () => (a = take(locks, 'k', { ttlMs: 1_000 })));
    at(5, () => (b = take(locks, 'k', { ttlMs: 100 })));
    at(6, () => take(locks, 'k', { waitMs: 0 }, () => undefined));
    at(7, () => take(locks, 'k', { waitMs: 10 }, () => undefined));
    at(30, () => void a.lease!.release());
    scheduler.flush();
    expect(b.lease?.fence).to.equal(2n);
    const lost = events.at(-1);
    expect(events.slice(0, -1)).to.deep.equal([
      { type: 'acquired', key: 'k', fence: 1n, waitedMs: 0, at: 0 },
      { type: 'timeout', key: 'k', waitedMs: 0, at: 6 },
      { type: 'timeout', key: 'k', waitedMs: 10, at: 17 },
      { type: 'released', key: 'k', fence: 1n, heldMs: 30, at: 30 },
      { type: 'acquired', key: 'k', fence: 2n, waitedMs: 25, at: 30 },
    ]);
    // b never extends: its TTL runs out 100 after its grant
    expect(lost).to.deep.include({ type: 'lost', key: 'k', fence: 2n, at: 130 });
    expect((lost as { error: unknown }).error).to.be.instanceOf(LockLostError);
  });

  it('reports a revoke as lost once, with the error, before lost$ errors; release adds nothing', async () => {
    const { scheduler, locks, events, at } = setup();
    let a: { lease?: LockLease } = {};
    let seenBeforeLostError: LockEvent[] = [];
    let lostError: unknown;
    at(0, () => {
      a = take(locks, 'k');
      a.lease!.lost$.subscribe({
        error: (e: unknown) => {
          lostError = e;
          seenBeforeLostError = [...events];
        },
      });
    });
    at(8, () => locks.revoke('k'));
    scheduler.flush();
    const released = await a.lease!.release().catch((e: unknown) => e);
    expect(isLockLostError(released)).to.equal(true);
    expect(events.map((e) => e.type)).to.deep.equal(['acquired', 'lost']);
    expect(events[1]).to.deep.equal({ type: 'lost', key: 'k', fence: 1n, error: lostError, at: 8 });
    expect(seenBeforeLostError.map((e) => e.type)).to.deep.equal(['acquired', 'lost']);
  });

  it('reports nothing for an aborted or unsubscribed waiter', () => {
    const { scheduler, locks, events, at } = setup();
    const controller = new AbortController();
    at(0, () => take(locks, 'k', { ttlMs: Number.POSITIVE_INFINITY }));
    at(1, () => take(locks, 'k', { signal: controller.signal }, () => undefined));
    at(2, () => {
      const sub = locks.acquire$('k').subscribe();
      scheduler.schedule(() => sub.unsubscribe(), 1);
    });
    at(4, () => controller.abort());
    scheduler.flush();
    expect(events.map((e) => e.type)).to.deep.equal(['acquired']);
    expect(locks.waiting('k')).to.equal(0);
  });

  it('replays nothing to a late subscriber, yet its released carries the whole hold', () => {
    const { scheduler, locks, at } = setup();
    const events: LockEvent[] = [];
    let a: { lease?: LockLease } = {};
    at(0, () => (a = take(locks, 'k')));
    at(3, () => void a.lease!.extend());
    at(10, () => locks.events$.subscribe((e) => events.push(e)));
    at(20, () => void a.lease!.release());
    scheduler.flush();
    expect(events).to.deep.equal([{ type: 'released', key: 'k', fence: 1n, heldMs: 20, at: 20 }]);
  });

  it('builds nothing while unobserved: the events of an unsubscribed stream stop', () => {
    const { scheduler, locks, events, sub, at } = setup();
    let a: { lease?: LockLease } = {};
    at(0, () => (a = take(locks, 'k')));
    at(1, () => sub.unsubscribe());
    at(2, () => void a.lease!.extend());
    at(3, () => void a.lease!.release());
    at(4, () => take(locks, 'k', { waitMs: 0 }));
    scheduler.flush();
    expect(events.map((e) => e.type)).to.deep.equal(['acquired']);
  });

  it("reports lock$'s keepalive extends and its release on unsubscribe", async () => {
    const { scheduler, locks, events, at } = setup();
    at(0, () => {
      const sub = lock$(locks, 'k', { ttlMs: 30, scheduler }).subscribe();
      scheduler.schedule(() => sub.unsubscribe(), 25);
    });
    scheduler.flush();
    expect(events).to.deep.equal([
      { type: 'acquired', key: 'k', fence: 1n, waitedMs: 0, at: 0 },
      { type: 'extended', key: 'k', fence: 1n, at: 10 },
      { type: 'extended', key: 'k', fence: 1n, at: 20 },
      { type: 'released', key: 'k', fence: 1n, heldMs: 25, at: 25 },
    ]);
    // the stream is hot and still open for the next lease
    const next = firstValueFrom(locks.events$);
    take(locks, 'k');
    expect(await next).to.deep.include({ type: 'acquired', fence: 2n });
  });
});
