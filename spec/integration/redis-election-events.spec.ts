/** `events$` of RedisElection against the real redis-server: the shared events conformance. */
import { Redis } from 'ioredis';
import { RedisElection } from '../../lib/redis/index.js';
import { electionEventsConformance } from '../election/eventsConformance.js';
import { sharedRedis } from '../support/servers.js';

const prefix = `rxc-test-election-events-${process.pid}:`;

electionEventsConformance('redis', async () => {
  const { url } = await sharedRedis();
  const redis = new Redis(url);
  const other = new Redis(url);
  const config = { prefix, ttlMs: 2000 };
  return {
    backend: new RedisElection(redis, config),
    peer: new RedisElection(other, config),
    ttlMs: 2000,
    now: () => Date.now(),
    // An operator deletes the leader key: the next renewal finds it gone.
    forceLoss: async (name) => void (await redis.del(`${prefix}${name}`)),
    residue: async (name) => {
      const keys = await redis.keys(`${prefix}${name}*`);
      const channels = (await redis.pubsub('CHANNELS', `${prefix}${name}*`)) as string[];
      const kept = (key: string) => !key.endsWith(':term') && !key.endsWith(':log');
      return [...keys.filter(kept), ...channels.map((c) => `channel ${c}`)];
    },
    close: async () => {
      redis.disconnect();
      other.disconnect();
    },
  };
});
