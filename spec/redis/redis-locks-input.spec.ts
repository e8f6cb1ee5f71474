// Bad input to the lock API fails where it is written, naming the option and the value (issue 12,
// items 5, 11 and 12 for locks), and lock names cannot collide with RedisLocks' internal keys.
import { expect } from 'chai';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { MemoryLocks } from '../../lib/lock/MemoryLocks.js';
import { lock$ } from '../../lib/lock/lock.js';
import { RedisLocks } from '../../lib/redis/RedisLocks.js';
import { sharedRedis, startRedis, type RedisServer } from '../support/servers.js';

/** The error `fn` throws synchronously or its promise rejects with. */
async function failure(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  return expect.fail('expected a failure');
}

describe('lock input validation', function () {
  let redis: Redis;
  let locks: RedisLocks;
  let quorum: RedisLocks;
  const extra: Redis[] = [];
  const servers: RedisServer[] = [];

  before(async () => {
    const { url } = await sharedRedis();
    redis = new Redis(url);
    // A fresh prefix per run: the old code let a name like `orders:fence` leave keys behind.
    const run = `input-${Date.now()}`;
    locks = new RedisLocks(redis, { prefix: `${run}:` });
    // Quorum mode needs independent servers: three clients of one would vote three times.
    servers.push(...(await Promise.all([startRedis(), startRedis(), startRedis()])));
    extra.push(...servers.map((s) => new Redis(s.url)));
    quorum = new RedisLocks(extra, { prefix: `${run}-q:` });
  });
  after(async () => {
    locks.close();
    quorum.close();
    for (const r of [redis, ...extra]) r.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
  });

  describe('times above 2^31 - 1 ms and TTLs too short to ever be valid', () => {
    for (const [name, backend] of [
      ['RedisLocks', () => locks],
      ['RedisLocks quorum', () => quorum],
      ['MemoryLocks', () => new MemoryLocks()],
    ] as const) {
      it(`${name}: waitMs 2**31 is a RangeError at call time, naming option and value`, async () => {
        const e = await failure(() => backend().acquire('k', { waitMs: 2 ** 31 }));
        expect(e).to.be.instanceOf(RangeError);
        expect(e.message)
          .to.contain('waitMs')
          .and.contain(String(2 ** 31));
      });

      it(`${name}: ttlMs 2**31 is a RangeError at call time`, async () => {
        const e = await failure(() => backend().acquire('k', { ttlMs: 2 ** 31 }));
        expect(e).to.be.instanceOf(RangeError);
        expect(e.message)
          .to.contain('ttlMs')
          .and.contain(String(2 ** 31));
      });
    }

    for (const [name, backend] of [
      ['RedisLocks', () => locks],
      ['RedisLocks quorum', () => quorum],
    ] as const) {
      it(`${name}: ttlMs below 10 (never valid past the drift allowance) is a RangeError`, async () => {
        for (const ttlMs of [1, 2, 9]) {
          const e = await failure(() => backend().acquire('k', { ttlMs }));
          expect(e, String(ttlMs)).to.be.instanceOf(RangeError);
          expect(e.message).to.contain('ttlMs').and.contain(`got ${ttlMs}`);
        }
      });

      it(`${name}: extend rejects ttlMs 2**31 and ttlMs 2 with a RangeError, keeping the lease`, async () => {
        const lease = await backend().acquire('extend-range', { ttlMs: 5_000, waitMs: 0 });
        try {
          for (const ttlMs of [2 ** 31, 2]) {
            const e = await failure(() => lease.extend(ttlMs));
            expect(e, String(ttlMs)).to.be.instanceOf(RangeError);
            expect(e.message).to.contain('ttlMs').and.contain(`got ${ttlMs}`);
          }
          await lease.extend(5_000);
        } finally {
          await lease.release();
        }
      });
    }

    it('lock$: a ttlMs whose third exceeds the timer limit is rejected at creation', () => {
      // It used to renew every ~1 ms: a timer longer than 2^31 - 1 ms fires at once.
      const e = (() => {
        try {
          lock$(locks, 'k', { ttlMs: 3 * 2 ** 31 });
        } catch (err) {
          return err as Error;
        }
        return expect.fail('lock$ accepted ttlMs 3 * 2**31');
      })();
      expect(e).to.be.instanceOf(RangeError);
      expect(e.message).to.contain('ttlMs');
    });
  });

  describe('unknown option keys and wrong clients', () => {
    it('acquire rejects an unknown option key, naming it (every backend)', async () => {
      for (const backend of [locks, quorum, new MemoryLocks()]) {
        const options = { ttlMs: 1_000, watiMs: 5 } as unknown as { ttlMs: number };
        const e = await failure(() => backend.acquire('k', options));
        expect(e).to.be.instanceOf(TypeError);
        expect(e.message).to.contain('"watiMs"');
      }
    });

    it('lock$ rejects an unknown config key, naming it', () => {
      const config = { ttlMs: 1_000, ttl: 5 } as unknown as { ttlMs: number };
      expect(() => lock$(locks, 'k', config)).to.throw(TypeError, /"ttl"/);
    });

    it('the RedisLocks and MemoryLocks constructors reject unknown config keys, naming them', () => {
      const redisConfig = { prefix: 'x:', recheck: 5 } as unknown as { prefix: string };
      expect(() => new RedisLocks(redis, redisConfig)).to.throw(TypeError, /"recheck"/);
      const memoryConfig = { shceduler: undefined } as unknown as object;
      expect(() => new MemoryLocks(memoryConfig)).to.throw(TypeError, /"shceduler"/);
    });

    it('new RedisLocks(non-Redis thing) is a TypeError', () => {
      const things: unknown[] = [
        undefined,
        null,
        5,
        'redis://x',
        {},
        { get: () => 1 },
        [redis, {}],
      ];
      for (const thing of things) {
        expect(() => new RedisLocks(thing as Redis), String(thing)).to.throw(TypeError, /redis/);
      }
    });

    it('names the argument and what it got: an etcd3 client, a URL, {}, a bad array element', () => {
      const etcd = new Etcd3({ hosts: 'http://127.0.0.1:1' }); // never connects: no call is made
      try {
        const cases: [unknown, RegExp][] = [
          [etcd, /^redis must be an ioredis .*, got an instance of Etcd3$/],
          ['redis://x', /^redis must be .*, got "redis:\/\/x"$/],
          [{}, /^redis must be .*, got an object$/],
          [[], /^redis must be .*, got an empty array$/],
          [[redis, etcd], /^redis\[1\] must be an ioredis Redis client, got an instance of Etcd3$/],
        ];
        for (const [thing, message] of cases) {
          expect(() => new RedisLocks(thing as Redis), String(message)).to.throw(
            TypeError,
            message,
          );
        }
      } finally {
        etcd.close();
      }
    });

    it('RedisLocks config times above 2^31 - 1 ms are RangeErrors naming the option', () => {
      expect(() => new RedisLocks(redis, { commandTimeoutMs: 2 ** 31 })).to.throw(
        RangeError,
        /commandTimeoutMs/,
      );
      expect(() => new RedisLocks(redis, { recheckMs: 2 ** 31 })).to.throw(RangeError, /recheckMs/);
    });
  });

  describe('lock names vs internal keys (`orders:fence` is the fence counter of `orders`)', () => {
    for (const suffix of [':fence', ':queue', ':waiters', ':wake']) {
      it(`rejects a name ending in "${suffix}" with a TypeError naming the key`, async () => {
        for (const backend of [locks, quorum]) {
          const e = await failure(() => backend.acquire(`orders${suffix}`, { waitMs: 0 }));
          expect(e).to.be.instanceOf(TypeError);
          expect(e.message).to.contain(`"orders${suffix}"`).and.contain(suffix);
        }
      });
    }

    it('holding `orders` leaves every legal name free, and the other way round', async () => {
      for (const backend of [locks, quorum]) {
        const names = ['orders:fenced', 'orders:fence:x', 'fence', 'orders:wakeup', '{orders}'];
        const orders = await backend.acquire('orders', { ttlMs: 5_000, waitMs: 0 });
        const others = [];
        for (const name of names) others.push(await backend.acquire(name, { waitMs: 0 }));
        await orders.extend();
        await orders.release();
        // And holding the others first, `orders` is still free and fenced above its last fence.
        const again = await backend.acquire('orders', { ttlMs: 5_000, waitMs: 0 });
        expect(again.fence > orders.fence).to.equal(true);
        await again.release();
        for (const lease of others) await lease.release();
      }
    });
  });
});
