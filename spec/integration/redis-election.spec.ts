import { expect } from 'chai';
import { Cluster, Redis } from 'ioredis';
import { RedisElection } from '../../lib/redis/index.js';
import { Campaigner, electionConformance, eventually } from '../election/conformance.js';
import { startProxy } from '../election/proxy.js';
import { sharedRedis, startRedis, startRedisCluster } from '../support/servers.js';

const prefix = `rxc-test-election-${process.pid}:`;

/** The term counter and the log of recent leaders must outlive leaders: they are not residue. */
const kept = (key: string) => !key.endsWith(':term') && !key.endsWith(':log');

/** Keys of `name` except the term counter and leader log, and subscribed channels. */
async function redisResidue(redis: Redis, name: string): Promise<string[]> {
  const keys = await redis.keys(`${prefix}${name}*`);
  const channels = (await redis.pubsub('CHANNELS', `${prefix}${name}*`)) as string[];
  return [...keys.filter(kept), ...channels.map((c) => `channel ${c}`)];
}

electionConformance('redis', async () => {
  const redis = new Redis((await sharedRedis()).url);
  return {
    backend: new RedisElection(redis, { prefix, ttlMs: 2000 }),
    ttlMs: 2000,
    residue: (name) => redisResidue(redis, name),
    close: async () => void redis.disconnect(),
  };
});

// On Redis Cluster the hash tag in the prefix puts every election key in one slot.
const clusterPrefix = `{rxc-election-${process.pid}}:`;
electionConformance('redis cluster (3 masters)', async () => {
  const cluster = await startRedisCluster(3);
  const redis = new Cluster(cluster.seeds);
  return {
    backend: new RedisElection(redis, { prefix: clusterPrefix, ttlMs: 2000 }),
    ttlMs: 2000,
    // KEYS and PUBSUB CHANNELS answer for one node: ask every master.
    residue: async (name) => {
      const found = await Promise.all(
        redis.nodes('master').map(async (node) => {
          const keys = await node.keys(`${clusterPrefix}${name}*`);
          const channels = (await node.pubsub('CHANNELS', `${clusterPrefix}${name}*`)) as string[];
          return [...keys.filter(kept), ...channels.map((c) => `channel ${c}`)];
        }),
      );
      return found.flat();
    },
    close: async () => {
      redis.disconnect();
      await cluster.stop();
    },
  };
});

describe('RedisElection (real Redis)', function () {
  this.timeout(30_000);
  let redis: Redis;
  before(async () => {
    redis = new Redis((await sharedRedis()).url);
  });
  after(() => redis.disconnect());

  it('keeps the key layout: <prefix><name> = token|term|value with a PX ttl, INCR term counter', async () => {
    const election = new RedisElection(redis, { prefix, ttlMs: 3000 });
    const c = new Campaigner(election, 'layout', 'node-a', 3000);
    await eventually('leads', () => c.leads);
    const raw = await redis.get(`${prefix}layout`);
    const term = await redis.get(`${prefix}layout:term`);
    expect(raw).to.equal(`${c.latest!.id}|${term}|node-a`);
    expect(BigInt(term!)).to.equal(c.latest!.term);
    const pttl = await redis.pttl(`${prefix}layout`);
    expect(pttl).to.be.within(1, 3000);
    c.resign();
    await eventually('key deleted', async () => (await redis.exists(`${prefix}layout`)) === 0);
  });

  it('reports the loss at once when the key is taken away, and campaigns again with a higher term', async () => {
    const election = new RedisElection(redis, { prefix, ttlMs: 1500 });
    const c = new Campaigner(election, 'stolen', 'node-a', 1500);
    await eventually('leads', () => c.leads);
    const first = c.latest!.term;
    await redis.del(`${prefix}stolen`); // an operator deletes the key: the next renewal sees it
    await eventually('loss reported', () => c.history.some((h, i) => i > 0 && !h.isLeader));
    await eventually('leads again', () => c.leads && c.latest!.term > first);
    c.resign();
  });

  it('a leader cut off from Redis reports the loss within its TTL; leadership returns after a restart', async () => {
    const server = await startRedis();
    const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    try {
      const election = new RedisElection(client, { prefix, ttlMs: 1200 });
      const c = new Campaigner(election, 'cutoff', 'node-a', 1200);
      await eventually('leads', () => c.leads);
      server.process.signal('SIGSTOP');
      await eventually('loss reported', () => !c.leads, 5000);
      server.process.signal('SIGCONT');
      await server.process.restart(); // no persistence: the term counter starts again
      await eventually('leads again', () => c.leads, 10_000);
      c.resign();
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it('a partitioned leader reports its loss before the other candidate is elected', async () => {
    const { url } = await sharedRedis();
    const proxy = await startProxy(Number(new URL(url).port));
    const cutOff = new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    cutOff.on('error', () => undefined);
    try {
      const name = `partition-${process.pid}`;
      const events: string[] = [];
      const a = new RedisElection(cutOff, { prefix, ttlMs: 1000 })
        .campaign(name, 'a')
        .subscribe((c) => events.push(`a:${c.isLeader}`));
      await eventually('a leads', () => events.includes('a:true'));
      const b = new RedisElection(redis, { prefix, ttlMs: 1000 })
        .campaign(name, 'b')
        .subscribe((c) => events.push(`b:${c.isLeader}`));
      await eventually('b waits', () => events.includes('b:false'));
      proxy.blackhole();
      await eventually('b leads', () => events.includes('b:true'), 10_000);
      // Validity counts from the renewal's send time, so a's own clock runs out first.
      expect(events.indexOf('a:false')).to.be.greaterThan(-1);
      expect(events.indexOf('a:false')).to.be.lessThan(events.indexOf('b:true'));
      a.unsubscribe();
      b.unsubscribe();
    } finally {
      cutOff.disconnect();
      await proxy.close();
    }
  });

  it('validates its options when created', () => {
    expect(() => new RedisElection({} as Redis)).to.throw(TypeError, 'redis');
    expect(() => new RedisElection(redis, { ttlMs: 2 })).to.throw(RangeError, 'ttlMs');
    const election = new RedisElection(redis);
    expect(() => election.campaign('', 'x')).to.throw(RangeError, 'name');
    expect(() => election.campaign('n', 'x', { ttlMs: 1.5 })).to.throw(RangeError, 'ttlMs');
  });
});
