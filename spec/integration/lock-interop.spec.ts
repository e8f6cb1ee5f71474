// Interop with other clients on the same keys: `etcdctl lock` (etcd's Go concurrency.Mutex) vs
// EtcdLocks, and @sesamecare-oss/redlock (node-redlock's maintained fork) vs RedisLocks.
import { Redlock } from '@sesamecare-oss/redlock';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { EtcdLocks } from '../../lib/etcd/EtcdLocks.js';
import { isLockTimeoutError } from '../../lib/errors.js';
import { RedisLocks } from '../../lib/redis/RedisLocks.js';
import { etcdClient } from '../lock/support.js';
import { sharedEtcd, sharedRedis } from '../support/servers.js';

/** Runs `etcdctl lock <name>`; resolves `held` when it prints its key (it holds the lock then). */
function etcdctlLock(endpoints: string[], name: string) {
  const child: ChildProcess = spawn('etcdctl', ['--endpoints', endpoints.join(','), 'lock', name], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const held = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) =>
      reject(new Error(`etcdctl lock exited with ${code} before holding`)),
    );
  });
  held.catch(() => undefined);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return {
    held,
    /** SIGINT makes etcdctl unlock and close its session before exiting. */
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

const settled = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('lock interop (real servers)', function () {
  this.timeout(30_000);

  describe('etcdctl lock vs EtcdLocks', () => {
    it('EtcdLocks waits for a lock held by etcdctl and gets a higher fence', async () => {
      const { endpoints } = await sharedEtcd();
      const client = etcdClient(endpoints);
      const locks = new EtcdLocks(client, { ttlSeconds: 10 });
      const ctl = etcdctlLock(endpoints, 'interop-a');
      try {
        const ctlKey = await ctl.held;
        expect(ctlKey).to.match(/^interop-a\/[0-9a-f]+$/);
        const ctlRev = BigInt((await client.get(ctlKey).exec()).kvs[0].create_revision);
        const e = await locks.acquire('interop-a', { waitMs: 0 }).catch((err: unknown) => err);
        expect(isLockTimeoutError(e), String(e)).to.equal(true);
        const waiting = locks.acquire('interop-a', { waitMs: 20_000 });
        expect(await settled(waiting, 300)).to.equal(false);
        await ctl.stop();
        const lease = await waiting;
        expect(lease.fence > ctlRev).to.equal(true);
        await lease.release();
      } finally {
        await ctl.stop();
        await locks.close();
        client.close();
      }
    });

    it('etcdctl waits for a lock held by EtcdLocks', async () => {
      const { endpoints } = await sharedEtcd();
      const client = etcdClient(endpoints);
      const locks = new EtcdLocks(client, { ttlSeconds: 10 });
      const lease = await locks.acquire('interop-b');
      const ctl = etcdctlLock(endpoints, 'interop-b');
      try {
        expect(await settled(ctl.held, 1_000)).to.equal(false);
        await lease.release();
        const ctlKey = await ctl.held;
        expect(
          BigInt((await client.get(ctlKey).exec()).kvs[0].create_revision) > lease.fence,
        ).to.equal(true);
      } finally {
        await ctl.stop();
        await locks.close();
        client.close();
      }
    });
  });

  describe('redlock vs RedisLocks (prefix "")', () => {
    it('excludes and is excluded by redlock on the same key', async () => {
      const { url } = await sharedRedis();
      const a = new Redis(url);
      const b = new Redis(url);
      const redlock = new Redlock([a], { retryCount: 0 });
      const locks = new RedisLocks(b, { prefix: '', recheckMs: 100 });
      try {
        // redlock holds: RedisLocks cannot take it, and waits until redlock releases
        const theirs = await redlock.acquire(['interop-r'], 5_000);
        const e = await locks.acquire('interop-r', { waitMs: 0 }).catch((err: unknown) => err);
        expect(isLockTimeoutError(e), String(e)).to.equal(true);
        const waiting = locks.acquire('interop-r', { ttlMs: 5_000, waitMs: 10_000 });
        expect(await settled(waiting, 300)).to.equal(false);
        await theirs.release();
        const ours = await waiting;
        // RedisLocks holds: redlock fails, then succeeds once released
        const refused = await redlock.acquire(['interop-r'], 5_000).catch((err: unknown) => err);
        expect(refused).to.be.instanceOf(Error);
        await ours.release();
        const again = await redlock.acquire(['interop-r'], 5_000);
        await again.release();
      } finally {
        locks.close();
        a.disconnect();
        b.disconnect();
      }
    });
  });
});
