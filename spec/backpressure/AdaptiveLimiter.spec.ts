import { expect } from 'chai';
import { AdaptiveLimiter, type AdaptiveLimiterConfig } from '../../lib/backpressure/index.js';
import type { Permit } from '../../lib/fanout/ConcurrencyLimit.js';

function acquireAll(limiter: AdaptiveLimiter): Permit[] {
  const permits: Permit[] = [];
  for (let p = limiter.tryAcquire(); p !== null; p = limiter.tryAcquire()) permits.push(p);
  return permits;
}

describe('AdaptiveLimiter', () => {
  it('rejects bad options at creation', () => {
    const make = (config: Partial<AdaptiveLimiterConfig>) => () =>
      new AdaptiveLimiter(config as AdaptiveLimiterConfig);
    expect(make({ initial: 5, min: 0, max: 10 })).to.throw(
      RangeError,
      'min must be an integer >= 1, got 0',
    );
    expect(make({ initial: 5, min: 6, max: 5 })).to.throw(
      RangeError,
      'max must be an integer >= 6, got 5',
    );
    expect(make({ initial: 11, min: 1, max: 10 })).to.throw(
      RangeError,
      'initial must be an integer >= 1 and <= 10, got 11',
    );
    expect(make({ initial: 5, min: 1, max: 10, decreaseFactor: 1 })).to.throw(
      RangeError,
      'decreaseFactor',
    );
    expect(make({ initial: 5, min: 1, max: 10, decreaseFactor: 0 })).to.throw(
      RangeError,
      'decreaseFactor',
    );
    expect(make({ initial: 5, min: 1, max: 10, increase: 0 })).to.throw(RangeError, 'increase');
    expect(make({ initial: NaN, min: 1, max: 10 })).to.throw(RangeError, 'initial');
  });

  it('rejects unknown option keys, naming the key', () => {
    const config = { initial: 5, min: 1, max: 10, decrease: 0.5 } as AdaptiveLimiterConfig;
    expect(() => new AdaptiveLimiter(config)).to.throw(
      TypeError,
      'AdaptiveLimiter config has an unknown option "decrease"',
    );
  });

  it('hands out at most limit permits; a permit released twice counts once', () => {
    const limiter = new AdaptiveLimiter({ initial: 3, min: 1, max: 10 });
    const permits = acquireAll(limiter);
    expect(permits).to.have.length(3);
    expect(limiter.inflight).to.equal(3);
    permits[0].release('ignored');
    permits[0].release('ignored');
    permits[0].release('dropped');
    expect(limiter.inflight).to.equal(2);
    expect(limiter.limit).to.equal(3);
  });

  it('raises the limit after a success only when the limit was in full use', () => {
    const limiter = new AdaptiveLimiter({ initial: 3, min: 1, max: 10, increase: 2 });
    const [a, b, c] = acquireAll(limiter);
    a.release('success'); // taken at 1 of 3 in flight: the limit was not what held us back
    b.release('success');
    expect(limiter.limit).to.equal(3);
    c.release('success'); // filled the limit
    expect(limiter.limit).to.equal(5);
  });

  it("multiplies the limit by decreaseFactor on 'dropped', once per congestion event", () => {
    const limiter = new AdaptiveLimiter({ initial: 20, min: 2, max: 40, decreaseFactor: 0.5 });
    const burst = acquireAll(limiter);
    for (const permit of burst) permit.release('dropped');
    expect(limiter.limit).to.equal(10); // not 20 * 0.5^20: all 20 were admitted under the old limit
    limiter.tryAcquire()?.release('dropped');
    expect(limiter.limit).to.equal(5);
    limiter.tryAcquire()?.release('dropped');
    limiter.tryAcquire()?.release('dropped');
    expect(limiter.limit).to.equal(2); // floor(2.5) = 2, then bounded by min
  });

  it("'ignored' changes nothing; the limit never leaves [min, max]", () => {
    const limiter = new AdaptiveLimiter({ initial: 4, min: 3, max: 5 });
    for (let i = 0; i < 10; i++) for (const p of acquireAll(limiter)) p.release('ignored');
    expect(limiter.limit).to.equal(4);
    for (let i = 0; i < 10; i++) for (const p of acquireAll(limiter)) p.release('success');
    expect(limiter.limit).to.equal(5);
    for (let i = 0; i < 10; i++) for (const p of acquireAll(limiter)) p.release('dropped');
    expect(limiter.limit).to.equal(3);
  });

  it('lowering the limit lets in-flight work finish and admits nothing until under it', () => {
    const limiter = new AdaptiveLimiter({ initial: 4, min: 1, max: 10, decreaseFactor: 0.5 });
    const [a, b, c, d] = acquireAll(limiter);
    a.release('dropped');
    expect(limiter.limit).to.equal(2);
    expect(limiter.inflight).to.equal(3);
    expect(limiter.tryAcquire()).to.equal(null);
    b.release('success');
    expect(limiter.tryAcquire()).to.equal(null);
    c.release('success');
    d.release('success');
    expect(limiter.tryAcquire()).to.not.equal(null);
  });

  it('limit$ gives the current limit, then each change; available$ emits after every release', () => {
    const limiter = new AdaptiveLimiter({ initial: 2, min: 1, max: 10 });
    const limits: number[] = [];
    let available = 0;
    limiter.limit$.subscribe((l) => limits.push(l));
    limiter.available$.subscribe(() => available++);
    const [a, b] = acquireAll(limiter);
    a.release('ignored');
    b.release('success');
    expect(limits).to.deep.equal([2, 3]);
    expect(available).to.equal(2);
  });

  it('available$ subscribers may take a permit re-entrantly and see the new state', () => {
    const limiter = new AdaptiveLimiter({ initial: 1, min: 1, max: 10 });
    const first = limiter.tryAcquire();
    const taken: (object | null)[] = [];
    limiter.available$.subscribe(() => taken.push(limiter.tryAcquire()));
    first?.release('ignored');
    expect(taken).to.have.length(1);
    expect(taken[0]).to.not.equal(null);
    expect(limiter.inflight).to.equal(1);
  });

  it('goes 4, 5, 6, 5, 6, 5 against a service of capacity 5 (the documented example)', () => {
    const limiter = new AdaptiveLimiter({ initial: 4, min: 1, max: 10 });
    const limits = [];
    for (let round = 0; round < 6; round++) {
      limits.push(limiter.limit);
      acquireAll(limiter).forEach((p, i) => p.release(i < 5 ? 'success' : 'dropped'));
    }
    expect(limits).to.deep.equal([4, 5, 6, 5, 6, 5]);
  });

  it('follows a service whose capacity drops and recovers, within [min, max]', () => {
    // Each round, every permit the limiter gives is a call to the service; the service
    // completes `capacity` of them and times out (drops) the rest.
    const limiter = new AdaptiveLimiter({ initial: 10, min: 2, max: 30 });
    const seen: number[] = [];
    limiter.limit$.subscribe((l) => seen.push(l));
    const phases = [
      { capacity: 20, rounds: 40 },
      { capacity: 5, rounds: 40 },
      { capacity: 25, rounds: 40 },
      { capacity: 1, rounds: 40 },
    ];
    for (const { capacity, rounds } of phases) {
      const settled: number[] = [];
      for (let round = 0; round < rounds; round++) {
        acquireAll(limiter).forEach((permit, i) =>
          permit.release(i < capacity ? 'success' : 'dropped'),
        );
        if (round >= rounds - 15) settled.push(limiter.limit);
      }
      // Settled near capacity: probing one above it, backing off by 10 % (bounded by min).
      const low = Math.max(2, Math.floor(capacity * 0.9));
      for (const limit of settled) expect(limit).to.be.within(low, capacity + 1);
      expect(settled).to.include(Math.max(2, capacity));
    }
    expect(Math.min(...seen)).to.equal(2);
    expect(Math.max(...seen)).to.equal(26);
    expect(seen.at(-1)).to.equal(limiter.limit);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).to.not.equal(seen[i - 1]);
  });
});
