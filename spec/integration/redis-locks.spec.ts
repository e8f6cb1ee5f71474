import { expect } from 'chai';
import { Cluster, Redis } from 'ioredis';
import { isAbortedError, isBackendUnavailableError } from '../../lib/errors.js';
import { RedisLocks } from '../../lib/redis/RedisLocks.js';
import { lockConformance, type LockHarness } from '../lock/conformance.js';
import { lockEventsConformance } from '../lock/eventsConformance.js';
import { sleep } from '../lock/support.js';
import { sharedRedis, startRedis, startRedisCluster } from '../support/servers.js';

function harness(connect: () => Redis | Cluster, stop?: () => Promise<void>): LockHarness {
  const connections: (Redis | Cluster)[] = [];
  const locks: RedisLocks[] = [];
  const admin = connect();
  return {
    client: () => {
      const redis = connect();
      connections.push(redis);
      const l = new RedisLocks(redis, { prefix: 'conf:', recheckMs: 500 });
      locks.push(l);
      return l;
    },
    breakLock: async (lease) => {
      await admin.del(`conf:${lease.key}`);
    },
    fifo: true,
    ttlMs: 2_000,
    expiresWithoutExtend: true,
    settleMs: 50,
    close: async () => {
      for (const l of locks) l.close();
      for (const c of [...connections, admin]) c.disconnect();
      await stop?.();
    },
  };
}

lockConformance('RedisLocks (single redis-server)', async () => {
  const { url } = await sharedRedis();
  return harness(() => new Redis(url));
});

lockEventsConformance('RedisLocks (single redis-server)', async () => {
  const { url } = await sharedRedis();
  return harness(() => new Redis(url));
});

lockConformance('RedisLocks (3-master Redis Cluster)', async () => {
  const cluster = await startRedisCluster(3);
  return harness(
    () => new Cluster(cluster.seeds),
    () => cluster.stop(),
  );
});

describe('RedisLocks specifics (real redis)', function () {
  this.timeout(20_000);

  it('stores the token as the string value of prefix + key and keeps a fence counter', async () => {
    const { url } = await sharedRedis();
    const redis = new Redis(url);
    const locks = new RedisLocks(redis, { prefix: 'layout:' });
    try {
      const lease = await locks.acquire('k', { ttlMs: 5_000 });
      const token = await redis.get('layout:k');
      expect(token).to.be.a('string').with.length.greaterThan(10);
      expect(await redis.pttl('layout:k')).to.be.within(1, 5_000);
      expect(BigInt((await redis.get('layout:k:fence'))!)).to.equal(lease.fence);
      await lease.release();
      expect(await redis.exists('layout:k')).to.equal(0);
    } finally {
      locks.close();
      redis.disconnect();
    }
  });

  describe('hand-off to the first waiter', () => {
    let redis: Redis;
    const opened: { close(): void }[] = [];
    const locks = (recheckMs = 200) => {
      const r = new Redis(redis.options);
      const l = new RedisLocks(r, { prefix: 'handoff:', recheckMs });
      opened.push(l, { close: () => r.disconnect() });
      return l;
    };
    before(async () => {
      redis = new Redis((await sharedRedis()).url);
    });
    after(() => {
      for (const o of opened) o.close();
      redis.disconnect();
    });

    it('passes the key straight to the waiter: a plain SET NX cannot take it in between', async () => {
      const a = locks();
      const b = locks();
      const held = await a.acquire('k1', { ttlMs: 5_000 });
      const waiting = b.acquire('k1', { ttlMs: 5_000 });
      while ((await redis.zcard('handoff:k1:queue')) === 0) await sleep(5);
      await held.release();
      // Right after the release reply the key already names the waiter.
      expect(await redis.set('handoff:k1', 'barger', 'PX', 5_000, 'NX')).to.equal(null);
      const next = await waiting;
      expect(next.fence).to.equal(held.fence + 1n);
      expect(await redis.get('handoff:k1')).to.not.equal('barger');
      await next.release();
      expect(await redis.exists('handoff:k1', 'handoff:k1:queue')).to.equal(0);
    });

    it('grants a queued waiter min(ttl, 3 x recheckMs) until it claims the full ttl', async () => {
      const a = locks();
      const dead = new Redis(redis.options);
      const doomed = new RedisLocks(dead, { prefix: 'handoff:', recheckMs: 200 });
      const held = await a.acquire('k2', { ttlMs: 5_000 });
      const abort = new AbortController();
      const lost = doomed
        .acquire('k2', { ttlMs: 30_000, signal: abort.signal })
        .catch((e: unknown) => e);
      while ((await redis.zcard('handoff:k2:queue')) === 0) await sleep(5);
      dead.disconnect(); // the waiter dies while queued: it never claims the hand-off
      doomed.close();
      const c = locks();
      const behind = c.acquire('k2', { ttlMs: 5_000 });
      while ((await redis.zcard('handoff:k2:queue')) < 2) await sleep(5);
      await held.release();
      expect(await redis.pttl('handoff:k2')).to.be.within(1, 600);
      const next = await behind; // after the dead waiter's short grant expired
      expect(next.fence > held.fence).to.equal(true);
      expect(await redis.pttl('handoff:k2')).to.be.greaterThan(600);
      await next.release();
      abort.abort();
      expect(isAbortedError(await lost)).to.equal(true);
    });

    it('extends a handed-off lease to its full ttl before the short grant runs out', async () => {
      const a = locks(100);
      const b = locks(100);
      const held = await a.acquire('k4', { ttlMs: 5_000 });
      const waiting = b.acquire('k4', { ttlMs: 5_000 });
      while ((await redis.zcard('handoff:k4:queue')) === 0) await sleep(5);
      await held.release();
      const next = await waiting;
      expect(await redis.pttl('handoff:k4')).to.be.within(1, 300); // the grant: 3 x recheckMs
      let lost: unknown;
      next.lost$.subscribe({ error: (e: unknown) => (lost = e) });
      await sleep(500);
      expect(lost).to.equal(undefined);
      expect(await redis.pttl('handoff:k4')).to.be.greaterThan(4_000);
      await next.release();
    });

    it('claims a hand-off whose message was lost on its next re-check, with the fence it was given', async () => {
      const a = locks();
      const b = locks(200);
      const held = await a.acquire('k3', { ttlMs: 5_000 });
      const waiting = b.acquire('k3', { ttlMs: 5_000 });
      while ((await redis.zcard('handoff:k3:queue')) === 0) await sleep(5);
      await sleep(50); // let the waiter's subscription settle
      await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub'); // the hand-off message goes nowhere
      await held.release();
      const next = await waiting;
      expect(next.fence).to.equal(held.fence + 1n);
      await next.release();
    });
  });

  it('fails with a retryable BackendUnavailableError within the command timeout when redis is down', async () => {
    const server = await startRedis();
    const redis = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    redis.on('error', () => undefined);
    const locks = new RedisLocks(redis, { commandTimeoutMs: 300 });
    try {
      const lease = await locks.acquire('down', { ttlMs: 1_000 });
      await server.stop();
      const started = Date.now();
      const e = await locks.acquire('down2', { waitMs: 0 }).then(
        () => expect.fail('acquired on a dead redis'),
        (err: unknown) => err,
      );
      expect(isBackendUnavailableError(e), String(e)).to.equal(true);
      expect(Date.now() - started).to.be.lessThan(2_000);
      const lostError = await new Promise((resolve) => lease.lost$.subscribe({ error: resolve }));
      expect(String(lostError)).to.match(/lost/);
    } finally {
      locks.close();
      redis.disconnect();
      await server.stop();
    }
  });
});
