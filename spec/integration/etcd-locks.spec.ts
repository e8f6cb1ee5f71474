import { expect } from 'chai';
import type { Etcd3 } from 'etcd3';
import { EtcdLocks } from '../../lib/etcd/EtcdLocks.js';
import { readAtOrLatest } from '../../lib/etcd/etcdCall.js';
import { isBackendUnavailableError, isLockLostError } from '../../lib/errors.js';
import { lockConformance, type LockHarness } from '../lock/conformance.js';
import { etcdClient } from '../lock/support.js';
import { sharedEtcd, startEtcdCluster } from '../support/servers.js';

function harness(client: Etcd3, stop?: () => Promise<void>): LockHarness {
  const locks: EtcdLocks[] = [];
  return {
    client: () => {
      const l = new EtcdLocks(client, { prefix: 'conf/', ttlSeconds: 5 });
      locks.push(l);
      return l;
    },
    breakLock: async (lease) => {
      await client.delete().key((lease as unknown as { etcdKey: string }).etcdKey);
    },
    fifo: true,
    ttlMs: 2_000,
    expiresWithoutExtend: false,
    settleMs: 100,
    close: async () => {
      await Promise.all(locks.map((l) => l.close().catch(() => undefined)));
      client.close();
      await stop?.();
    },
  };
}

lockConformance('EtcdLocks (single etcd)', async () => {
  const { endpoints } = await sharedEtcd();
  return harness(etcdClient(endpoints));
});

lockConformance('EtcdLocks (3-member etcd cluster)', async () => {
  const cluster = await startEtcdCluster(3);
  return harness(etcdClient(cluster.endpoints), () => cluster.stop());
});

describe('EtcdLocks specifics (real etcd)', function () {
  this.timeout(20_000);

  it('uses the Go Mutex layout: <prefix><key>/<lease hex>, fence = create revision', async () => {
    const client = etcdClient((await sharedEtcd()).endpoints);
    const locks = new EtcdLocks(client, { prefix: 'layout/', ttlSeconds: 5 });
    try {
      const lease = await locks.acquire('k');
      const session = await locks.session();
      const kv = await client.get(`layout/k/${session.leaseIdHex}`).exec();
      expect(kv.kvs).to.have.length(1);
      expect(BigInt(kv.kvs[0].create_revision)).to.equal(lease.fence);
      expect(kv.kvs[0].lease).to.equal(session.leaseId);
      await lease.release();
      expect(await client.get(`layout/k/${session.leaseIdHex}`).string()).to.equal(null);
    } finally {
      await locks.close();
      client.close();
    }
  });

  it('reads a revision its member has not applied through a linearizable read instead', async () => {
    const client = etcdClient((await sharedEtcd()).endpoints);
    const locks = new EtcdLocks(client, { prefix: 'read-at/', ttlSeconds: 5 });
    try {
      const lease = await locks.acquire('k');
      const request = { key: Buffer.from('read-at/k/'), range_end: Buffer.from('read-at/k0') };
      const readAt = (revision: string) =>
        readAtOrLatest(revision, (at) =>
          client.kv.range(
            at === undefined ? request : { ...request, revision: at, serializable: true },
          ),
        );
      const current = await readAt('999999999');
      expect(current.kvs.map((kv) => BigInt(kv.create_revision))).to.deep.equal([lease.fence]);
      const before = await readAt((lease.fence - 1n).toString());
      expect(before.kvs).to.deep.equal([]);
      await lease.release();
    } finally {
      await locks.close();
      client.close();
    }
  });

  it('loses held locks when the session lease is revoked, and acquires again on a new session', async () => {
    const client = etcdClient((await sharedEtcd()).endpoints);
    const locks = new EtcdLocks(client, { ttlSeconds: 5 });
    try {
      const lease = await locks.acquire('revoked');
      const lost = new Promise((resolve) => lease.lost$.subscribe({ error: resolve }));
      const session = await locks.session();
      await client.leaseClient.leaseRevoke({ ID: session.leaseId });
      expect(isLockLostError(await lost)).to.equal(true);
      const again = await locks.acquire('revoked', { waitMs: 5_000 });
      expect(again.fence > lease.fence).to.equal(true);
      await again.release();
    } finally {
      await locks.close();
      client.close();
    }
  });

  it('fails with BackendUnavailableError within the deadlines when etcd is down', async () => {
    const cluster = await startEtcdCluster(1);
    const client = etcdClient(cluster.endpoints, 500);
    const locks = new EtcdLocks(client, { ttlSeconds: 2, callTimeoutMs: 500 });
    try {
      await cluster.stop();
      const started = Date.now();
      const e = await locks.acquire('down', { waitMs: 0 }).then(
        () => expect.fail('acquired on a dead etcd'),
        (err: unknown) => err,
      );
      expect(isBackendUnavailableError(e), String(e)).to.equal(true);
      expect(Date.now() - started).to.be.lessThan(5_000);
    } finally {
      await locks.close().catch(() => undefined);
      client.close();
    }
  });
});
