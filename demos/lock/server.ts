/**
 * Server side of the lock page, for real backends (REDIS_URL / ETCD_ENDPOINTS): the contending
 * clients run in the demo server, each with its own connection and RedisLocks / EtcdLocks.
 *   GET  /sse/lock/clients?backend=redis|etcd&count=N&session=S → ContenderEvent stream
 *   POST /api/lock/available                                  → {redis: boolean, etcd: boolean}
 *   POST /api/lock/act {session, client, action: 'pause'|'resume'|'kill'}
 */
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { Observable } from 'rxjs';
import { EtcdLocks } from '../../lib/etcd/index.js';
import type { LockBackend } from '../../lib/lock/index.js';
import { RedisLocks } from '../../lib/redis/index.js';
import { demoBackends, type DemoActions, type DemoStreams } from '../kit/server-api.js';
import { contenders, type ContenderEvent, type Contenders } from './contenders.js';

const sessions = new Map<string, Contenders>();
const closers = new Set<() => Promise<void> | void>();

/** One backend client per contender, as separate processes would have. */
function backendFor(kind: 'redis' | 'etcd', onClose: (close: () => Promise<void> | void) => void) {
  const { redisUrl, etcdEndpoints } = demoBackends();
  if (kind === 'redis') {
    if (!redisUrl) throw new Error('redis is not configured (set REDIS_URL)');
    return (): LockBackend => {
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      const locks = new RedisLocks(redis, { prefix: 'demo:' });
      onClose(() => {
        locks.close();
        redis.disconnect();
      });
      return locks;
    };
  }
  if (!etcdEndpoints) throw new Error('etcd is not configured (set ETCD_ENDPOINTS)');
  return (): LockBackend => {
    const client = new Etcd3({
      hosts: etcdEndpoints,
      dialTimeout: 1000,
      defaultCallOptions: (c) => (c.isStream ? {} : { deadline: Date.now() + 3000 }),
    });
    const locks = new EtcdLocks(client, { prefix: 'demo/', ttlSeconds: 2, callTimeoutMs: 2000 });
    onClose(async () => {
      await locks.close().catch(() => undefined);
      client.close();
    });
    return locks;
  };
}

export const streams: DemoStreams = {
  clients(params) {
    const kind = params.get('backend') === 'etcd' ? 'etcd' : 'redis';
    const n = Math.min(6, Math.max(2, Number(params.get('count') ?? 4) || 4));
    const session = params.get('session') ?? 'default';
    return new Observable<ContenderEvent>((subscriber) => {
      const mine: (() => Promise<void> | void)[] = [];
      const make = backendFor(kind, (close) => {
        mine.push(close);
        closers.add(close);
      });
      const running = contenders(n, () => make());
      sessions.set(session, running);
      const sub = running.events$.subscribe(subscriber);
      return () => {
        sub.unsubscribe();
        sessions.delete(session);
        for (const close of mine) {
          closers.delete(close);
          void Promise.resolve(close()).catch(() => undefined);
        }
      };
    });
  },
};

export const actions: DemoActions = {
  available: async () => {
    const { redisUrl, etcdEndpoints } = demoBackends();
    return { redis: redisUrl !== undefined, etcd: etcdEndpoints !== undefined };
  },
  act: async (body) => {
    const { session, client, action } = body as {
      session: string;
      client: string;
      action: 'pause' | 'resume' | 'kill';
    };
    const running = sessions.get(session);
    if (!running) throw new Error(`no session ${session}`);
    running.act(client, action);
    return { ok: true };
  },
};

export async function dispose(): Promise<void> {
  sessions.clear();
  await Promise.all([...closers].map((close) => Promise.resolve(close()).catch(() => undefined)));
  closers.clear();
}
