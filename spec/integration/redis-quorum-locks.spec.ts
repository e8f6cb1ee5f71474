// RedisLocks' quorum mode (Redlock on three independent redis-servers): the shared conformance
// suite, then what only a quorum has: the fence ratchet across different majorities, dead
// servers, split votes, and interop with @sesamecare-oss/redlock on the same three servers.
import { Redlock } from '@sesamecare-oss/redlock';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { firstValueFrom } from 'rxjs';
import {
  isBackendUnavailableError,
  isLockLostError,
  isLockTimeoutError,
} from '../../lib/errors.js';
import type { LockLease } from '../../lib/lock/LockBackend.js';
import { RedisLocks, type RedisLocksConfig } from '../../lib/redis/RedisLocks.js';
import { lockConformance, type LockHarness } from '../lock/conformance.js';
import { lockEventsConformance } from '../lock/eventsConformance.js';
import { sleep } from '../lock/support.js';
import { startRedis, type RedisServer } from '../support/servers.js';

/** Three redis-servers, clients that give up reconnecting quietly, and cleanup. */
async function trio() {
  const servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
  const connections: Redis[] = [];
  const locks: RedisLocks[] = [];
  const connect = () =>
    servers.map((s) => {
      const redis = new Redis(s.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
      redis.on('error', () => undefined);
      connections.push(redis);
      return redis;
    });
  const admin = connect();
  return {
    servers,
    admin,
    connect,
    locks: (config?: RedisLocksConfig) => {
      const l = new RedisLocks(connect(), { recheckMs: 500, ...config });
      locks.push(l);
      return l;
    },
    close: async () => {
      for (const l of locks) l.close();
      for (const c of connections) c.disconnect();
      await Promise.all(servers.map((s: RedisServer) => s.stop()));
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

async function quorumHarness(): Promise<LockHarness> {
  const t = await trio();
  return {
    client: () => t.locks({ prefix: 'conf:' }),
    breakLock: async (lease) => {
      await Promise.all(t.admin.map((r) => r.del(`conf:${lease.key}`)));
    },
    fifo: true,
    ttlMs: 2_000,
    expiresWithoutExtend: true,
    settleMs: 50,
    close: t.close,
  };
}

lockConformance('RedisLocks quorum (3 redis-servers)', quorumHarness);
lockEventsConformance('RedisLocks quorum (3 redis-servers)', quorumHarness);

describe('RedisLocks quorum specifics (3 real redis-servers)', function () {
  this.timeout(20_000);
  let t: Awaited<ReturnType<typeof trio>>;
  before(async () => {
    t = await trio();
  });
  after(async () => t?.close());

  /** Occupies the lock key on one server by hand, as another client would. */
  const block = (server: number, key: string, ms = 60_000) =>
    t.admin[server].set(key, `blocker-${server}`, 'PX', ms);
  const unblock = (server: number, key: string) => t.admin[server].del(key);
  const counter = async (server: number, key: string) =>
    BigInt((await t.admin[server].get(`${key}:fence`))!);

  it('ratchets fence counters so fences rise across different majorities', async () => {
    const locks = t.locks({ prefix: '' });
    const key = 'ratchet';
    // Server 2's counter runs far ahead (beyond 2^53, to show fences stay exact).
    await t.admin[2].set(`${key}:fence`, '9007199254740993');
    await block(0, key);
    const first = await locks.acquire(key, { ttlMs: 5_000, waitMs: 0 }); // majority {1, 2}
    expect(first.fence).to.equal(9007199254740994n);
    expect(await counter(1, key)).to.equal(first.fence); // ratcheted up
    await first.release();

    await unblock(0, key);
    await block(2, key);
    const second = await locks.acquire(key, { ttlMs: 5_000, waitMs: 0 }); // majority {0, 1}
    expect(second.fence > first.fence, `${second.fence} after ${first.fence}`).to.equal(true);
    expect(await counter(0, key)).to.equal(second.fence); // server 0 was far behind
    await second.release();

    await unblock(2, key);
    await block(1, key);
    const third = await locks.acquire(key, { ttlMs: 5_000, waitMs: 0 }); // majority {0, 2}
    expect(third.fence > second.fence, `${third.fence} after ${second.fence}`).to.equal(true);
    await third.release();
    await unblock(1, key);
  });

  it('uses the redlock key layout: the token is the value of prefix + key on every server', async () => {
    const locks = t.locks({ prefix: 'layout:' });
    const lease = await locks.acquire('k', { ttlMs: 5_000 });
    // The acquire resolves once a majority answered; the last server may answer a moment later.
    const read = () => Promise.all(t.admin.map((r) => r.get('layout:k')));
    let tokens = await read();
    for (let i = 0; i < 100 && tokens.includes(null); i++) tokens = await read();
    expect(tokens[0]).to.be.a('string').with.length.greaterThan(10);
    expect(new Set(tokens).size).to.equal(1);
    for (const r of t.admin) expect(await r.pttl('layout:k')).to.be.within(1, 5_000);
    await lease.release();
    let left = await read();
    for (let i = 0; i < 100 && left.some((x) => x !== null); i++) left = await read();
    expect(left).to.deep.equal([null, null, null]);
  });

  it('queues a client that releases and asks again behind the waiters', async () => {
    const a = t.locks({ prefix: 'fair:' });
    const b = t.locks({ prefix: 'fair:' });
    const order: string[] = [];
    const first = await a.acquire('k', { ttlMs: 5_000 });
    const waiting = b.acquire('k', { ttlMs: 5_000 }).then(async (lease) => {
      order.push('b');
      await sleep(20);
      await lease.release();
    });
    await sleep(50); // b is queued on every server
    await first.release();
    const again = await a.acquire('k', { ttlMs: 5_000 }); // at once: must not overtake b
    order.push('a');
    await waiting;
    expect(order).to.deep.equal(['b', 'a']);
    await again.release();
  });

  it('resolves split votes: when no token holds a majority, contenders back off and all get it', async () => {
    const key = 'split';
    // Two strangers hold one server each (short-lived, and they publish nothing), so every round
    // is a split vote at first. Re-checks are off (a minute): only the split-vote back-off and
    // the wake-ups of releases can get the clients through.
    await block(0, key, 300);
    await block(1, key, 300);
    const clients = Array.from({ length: 5 }, () => t.locks({ prefix: '', recheckMs: 60_000 }));
    let inside = 0;
    let maxInside = 0;
    const fences: bigint[] = [];
    await Promise.all(
      clients.map(async (client) => {
        for (let round = 0; round < 2; round++) {
          const lease = await client.acquire(key, { ttlMs: 2_000, waitMs: 15_000 });
          maxInside = Math.max(maxInside, ++inside);
          fences.push(lease.fence);
          await sleep(2);
          inside--;
          await lease.release();
        }
      }),
    );
    expect(maxInside).to.equal(1);
    expect(fences).to.have.length(10);
    for (let i = 1; i < fences.length; i++) expect(fences[i] > fences[i - 1]).to.equal(true);
  });

  it('excludes and is excluded by @sesamecare-oss/redlock on the same three servers and key', async () => {
    const redlock = new Redlock(t.connect(), { retryCount: 0 });
    const locks = t.locks({ prefix: '' });
    const key = 'interop-q';
    const theirs = await redlock.acquire([key], 5_000);
    const e = await rejection(locks.acquire(key, { waitMs: 0 }));
    expect(isLockTimeoutError(e), String(e)).to.equal(true);
    const waiting = locks.acquire(key, { ttlMs: 5_000, waitMs: 10_000 });
    const early = await Promise.race([waiting.then(() => true), sleep(300).then(() => false)]);
    expect(early).to.equal(false);
    await theirs.release(); // redlock does not publish: our re-check notices
    const ours = await waiting;
    expect(await rejection(redlock.acquire([key], 5_000))).to.be.instanceOf(Error);
    await ours.release();
    const again = await redlock.acquire([key], 5_000);
    await again.release();
  });

  it('rejects an array of non-clients, a repeated client and an empty array with TypeError', () => {
    const [r0] = t.admin;
    expect(() => new RedisLocks([{}, {}] as unknown as Redis[])).to.throw(TypeError);
    expect(() => new RedisLocks([r0, r0])).to.throw(TypeError, /distinct/);
    expect(() => new RedisLocks([])).to.throw(TypeError);
  });
});

describe('RedisLocks quorum with dead servers (3 real redis-servers)', function () {
  this.timeout(20_000);

  it('keeps working with one of three servers stopped', async () => {
    const t = await trio();
    try {
      const a = t.locks({ commandTimeoutMs: 300 });
      const b = t.locks({ commandTimeoutMs: 300, recheckMs: 60_000 }); // woken by PUBLISH only
      await t.servers[2].stop();
      const lease = await a.acquire('one-down', { ttlMs: 3_000, waitMs: 0 });
      await lease.extend(3_000);
      const waiter = b.acquire('one-down', { ttlMs: 3_000, waitMs: 10_000 });
      await sleep(100);
      await lease.release();
      const next = await waiter; // woken by the release's PUBLISH on the live servers
      expect(next.fence > lease.fence).to.equal(true);
      await next.release();
    } finally {
      await t.close();
    }
  });

  it('fails with BackendUnavailableError within the command timeout when two of three are stopped', async () => {
    const t = await trio();
    try {
      const locks = t.locks({ commandTimeoutMs: 300 });
      const lease = await locks.acquire('two-down', { ttlMs: 3_000 });
      const lost = firstValueFrom(lease.lost$).catch((e: unknown) => e);
      await Promise.all([t.servers[0].stop(), t.servers[1].stop()]);
      let started = Date.now();
      const e = await rejection(locks.acquire('two-down-2', { waitMs: 0 }));
      expect(isBackendUnavailableError(e), String(e)).to.equal(true);
      expect(Date.now() - started).to.be.lessThan(2_000);
      started = Date.now();
      const waited = await rejection(locks.acquire('two-down-3', { waitMs: 700 }));
      expect(isBackendUnavailableError(waited), String(waited)).to.equal(true);
      expect(Date.now() - started).to.be.lessThan(3_000);
      const extendError = await rejection(lease.extend());
      expect(isBackendUnavailableError(extendError), String(extendError)).to.equal(true);
      expect(isLockLostError(await lost), String(await lost)).to.equal(true); // TTL ran out
    } finally {
      await t.close();
    }
  });

  it('reports a release it cannot confirm on a majority as BackendUnavailableError', async () => {
    const t = await trio();
    try {
      const locks = t.locks({ commandTimeoutMs: 300 });
      const lease: LockLease = await locks.acquire('release-down', { ttlMs: 5_000 });
      await Promise.all([t.servers[0].stop(), t.servers[1].stop()]);
      const e = await rejection(lease.release());
      expect(isBackendUnavailableError(e), String(e)).to.equal(true);
      await lease.release().catch(() => undefined); // idempotent: the same outcome
    } finally {
      await t.close();
    }
  });
});
