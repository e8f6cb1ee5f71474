import { expect } from 'chai';
import { Cluster, Redis } from 'ioredis';
import { isBackendUnavailableError } from '../../lib/errors.js';
import { RedisLocks } from '../../lib/redis/RedisLocks.js';
import { lockConformance, type LockHarness } from '../lock/conformance.js';
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
