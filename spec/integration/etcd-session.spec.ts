import { expect } from 'chai';
import { firstValueFrom } from 'rxjs';
import type { Etcd3, Watcher } from 'etcd3';
import { EtcdSession } from '../../lib/etcd/EtcdSession.js';
import { waitDelete } from '../../lib/etcd/waitDelete.js';
import {
  isAbortedError,
  isBackendUnavailableError,
  isSessionExpiredError,
} from '../../lib/errors.js';
import { sharedEtcd, startEtcdCluster } from '../support/servers.js';
import { etcdClient, eventually, sleep } from '../lock/support.js';

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

describe('EtcdSession (real etcd)', function () {
  this.timeout(20_000);
  let client: Etcd3;
  const sessions: EtcdSession[] = [];
  const open = async (ttlSeconds: number) => {
    const s = await EtcdSession.create(client, { ttlSeconds });
    sessions.push(s);
    return s;
  };

  before(async () => {
    client = etcdClient((await sharedEtcd()).endpoints);
  });
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close().catch(() => undefined)));
  });
  after(() => client.close());

  it('grants a lease, exposes its id in hex and revokes it on close', async () => {
    const session = await open(5);
    expect(session.state).to.equal('alive');
    expect(session.leaseIdHex).to.equal(BigInt(session.leaseId).toString(16));
    const key = `session-spec/${session.leaseIdHex}`;
    await client.put(key).value('x').lease(session.leaseId);
    let completed = false;
    session.lost$.subscribe({ complete: () => (completed = true) });
    await session.close();
    await session.done;
    expect(session.state).to.equal('closed');
    expect(completed).to.equal(true);
    expect(await client.get(key).string()).to.equal(null);
    await session.close(); // idempotent
  });

  it('keeps the lease alive well past its TTL', async () => {
    const session = await open(1);
    const key = `session-spec/alive-${session.leaseIdHex}`;
    await client.put(key).value('x').lease(session.leaseId);
    await sleep(2500);
    expect(session.state).to.equal('alive');
    expect(await client.get(key).string()).to.equal('x');
    expect(session.expiresAt).to.be.greaterThan(Date.now());
  });

  it('is lost when the lease is revoked behind its back', async () => {
    const session = await open(30);
    const lost = firstValueFrom(session.lost$).catch((e: unknown) => e);
    await client.leaseClient.leaseRevoke({ ID: session.leaseId });
    expect(isSessionExpiredError(await errorOf(session.keepAliveOnce()))).to.equal(true);
    expect(isSessionExpiredError(await lost)).to.equal(true);
    expect(session.state).to.equal('lost');
    await session.done;
    // a late subscriber sees the loss at once
    expect(
      isSessionExpiredError(await firstValueFrom(session.lost$).catch((e: unknown) => e)),
    ).to.equal(true);
  });

  it('validates its options', async () => {
    const e = await errorOf(EtcdSession.create(client, { ttlSeconds: 0 }));
    expect(e).to.be.instanceOf(RangeError);
    expect((e as Error).message).to.match(/ttlSeconds/);
  });

  it('waitDelete resolves on deletion and rejects on abort', async () => {
    await client.put('session-spec/wd').value('1');
    const res = await client.get('session-spec/wd').exec();
    const fromRevision = (BigInt(res.header.revision) + 1n).toString();
    const deleted = waitDelete(client, 'session-spec/wd', { fromRevision, callTimeoutMs: 1000 });
    const del = await client.delete().key('session-spec/wd').exec();
    expect(await deleted).to.equal(del.header.revision);
    await client.put('session-spec/wd2').value('1');
    const controller = new AbortController();
    const waiting = waitDelete(client, 'session-spec/wd2', { callTimeoutMs: 1000 });
    const aborted = waitDelete(client, 'session-spec/wd2', {
      callTimeoutMs: 1000,
      signal: controller.signal,
    });
    controller.abort();
    expect(isAbortedError(await errorOf(aborted))).to.equal(true);
    await client.delete().key('session-spec/wd2');
    await waiting;
  });

  it('waitDelete on a namespaced client watches and reads the key inside the namespace', async () => {
    const ns = client.namespace('session-spec-ns/');
    await ns.put('k').value('1');
    let done = false;
    const deleted = waitDelete(ns, 'k', { callTimeoutMs: 1000 }).then((revision) => {
      done = true;
      return revision;
    });
    await sleep(200);
    expect(done, 'resolved while the key still exists').to.equal(false);
    const del = await ns.delete().key('k').exec();
    expect(await deleted).to.equal(del.header.revision);
  });

  it('waitDelete: a key already gone, or re-created, resolves at once with the read revision', async () => {
    const gone = await waitDelete(client, 'session-spec/never', { callTimeoutMs: 1000 });
    expect(BigInt(gone) > 0n).to.equal(true);
    const put = await client.put('session-spec/again').value('1').exec();
    const first = put.header.revision;
    await client.delete().key('session-spec/again');
    await client.put('session-spec/again').value('2');
    const replaced = waitDelete(client, 'session-spec/again', {
      createRevision: first,
      callTimeoutMs: 1000,
    });
    expect(BigInt(await replaced) > BigInt(first)).to.equal(true);
    await client.delete().key('session-spec/again');
  });

  it('waitDelete opens a second watcher when writes could have put the first behind, and cancels both', async () => {
    // Four writers keep etcd busy, so a write almost always lands between a watch's creation
    // and the read after it: that watch may be behind (see registeredAt) and a second one opens.
    const own = etcdClient((await sharedEtcd()).endpoints);
    const opened: Watcher[] = [];
    let ended = 0;
    const watch = own.watch.bind(own);
    own.watch = () => {
      const builder = watch();
      const create = builder.create.bind(builder);
      builder.create = async () => {
        const w = await create();
        opened.push(w);
        w.once('end', () => ended++);
        return w;
      };
      return builder;
    };
    let writing = true;
    const writers = [0, 1, 2, 3].map(async (i) => {
      while (writing) await own.put(`session-spec/noise-${i}`).value('x');
    });
    const rounds = 10;
    try {
      for (let round = 0; round < rounds; round++) {
        const key = `session-spec/busy-${round}`;
        await own.put(key).value('1');
        const before = opened.length;
        const waiting = waitDelete(own, key, { callTimeoutMs: 3000 });
        await eventually('watching', () => opened.length > before);
        await sleep(20);
        const del = await own.delete().key(key).exec();
        expect(BigInt(await waiting) >= BigInt(del.header.revision)).to.equal(true);
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    expect(opened.length, 'watchers opened in 10 waits').to.be.greaterThan(rounds);
    expect(opened.length).to.be.at.most(rounds * 2);
    await eventually('every watcher cancelled', () => ended === opened.length);
    own.close();
  });

  describe('with a dead etcd', () => {
    it('is lost within its TTL and fails to create with BackendUnavailableError', async function () {
      const cluster = await startEtcdCluster(1);
      const own = etcdClient(cluster.endpoints, 1000);
      try {
        const session = await EtcdSession.create(own, { ttlSeconds: 1, callTimeoutMs: 1000 });
        const lost = firstValueFrom(session.lost$).catch((e: unknown) => e);
        await cluster.members[0].process.stop('SIGKILL');
        const started = Date.now();
        expect(isSessionExpiredError(await lost)).to.equal(true);
        expect(Date.now() - started).to.be.lessThan(2000);
        const e = await errorOf(EtcdSession.create(own, { ttlSeconds: 1, callTimeoutMs: 1000 }));
        expect(isBackendUnavailableError(e), String(e)).to.equal(true);
        await eventually('close settles', () =>
          session.close().then(
            () => true,
            () => true,
          ),
        );
      } finally {
        own.close();
        await cluster.stop();
      }
    });
  });
});
