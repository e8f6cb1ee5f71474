// One etcd error mapping (issue 12, item 7): caller errors are fatal BackendRejectedError, a
// server that cannot answer (stopped, no leader, deadline, closed client, the etcd3 client's own
// circuit breaker) is a transient BackendUnavailableError. Always against a real etcd.
import { expect } from 'chai';
import { firstValueFrom, type Subscription } from 'rxjs';
import type { Candidacy } from '../../lib/election/ElectionBackend.js';
import type { Etcd3 } from 'etcd3';
import { EtcdElection } from '../../lib/etcd/EtcdElection.js';
import { EtcdLocks } from '../../lib/etcd/EtcdLocks.js';
import { toEtcdError } from '../../lib/etcd/etcdCall.js';
import {
  isBackendRejectedError,
  isBackendUnavailableError,
  isFatal,
  isTransient,
} from '../../lib/errors.js';
import { etcdClient } from '../lock/support.js';
import { sharedEtcd, startEtcdCluster } from '../support/servers.js';

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

function expectRejected(e: unknown): void {
  expect(isBackendRejectedError(e), String(e)).to.equal(true);
  expect(isFatal(e)).to.equal(true);
  expect((e as Error).cause, 'the etcd error is kept as cause').to.be.instanceOf(Error);
}

function expectUnavailable(e: unknown): void {
  expect(isBackendUnavailableError(e), String(e)).to.equal(true);
  expect(isTransient(e)).to.equal(true);
  expect((e as Error).cause, 'the etcd error is kept as cause').to.be.instanceOf(Error);
}

describe('etcd error mapping (real etcd)', function () {
  this.timeout(20_000);
  const clients: Etcd3[] = [];
  // A client of its own per case: an oversized request opens the etcd3 client's breaker.
  const client = async () => {
    const c = etcdClient((await sharedEtcd()).endpoints);
    clients.push(c);
    return c;
  };
  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  it('a value over 2 MiB (gRPC RESOURCE_EXHAUSTED) is a fatal BackendRejectedError', async () => {
    const election = new EtcdElection(await client(), { prefix: 'errors-spec/' });
    const e = await errorOf(firstValueFrom(election.campaign('big', 'x'.repeat(3 * 1024 * 1024))));
    expectRejected(e);
    expect((e as Error).cause?.constructor.name).to.equal('GRPCResourceExhastedError');
  });

  it('a value of 1.5-2 MiB ("request is too large", INVALID_ARGUMENT) is a fatal BackendRejectedError', async () => {
    const c = await client();
    const election = new EtcdElection(c, { prefix: 'errors-spec/' });
    // Stay subscribed: unsubscribing resigns.
    let sub: Subscription | undefined;
    const leader = await new Promise<Candidacy>((resolve, reject) => {
      sub = election.campaign('large', 'small').subscribe({
        next: (c) => c.isLeader && resolve(c),
        error: reject,
      });
    });
    const e = await errorOf(leader.proclaim('y'.repeat(1.8 * 1024 * 1024)));
    sub?.unsubscribe();
    expectRejected(e);
    expect((e as Error).cause?.constructor.name).to.equal('GRPCInvalidArgumentError');
  });

  it('an oversized lock name is a fatal BackendRejectedError', async () => {
    const locks = new EtcdLocks(await client(), { ttlSeconds: 5 });
    expectRejected(await errorOf(locks.acquire('k'.repeat(3 * 1024 * 1024), { waitMs: 0 })));
    // etcd3's breaker counts RESOURCE_EXHAUSTED as a host failure: after the 3 attempts of its
    // retry policy the host is shut for 5 s, so even the revoke in close() is refused now.
    expect(isBackendUnavailableError(await errorOf(locks.close()))).to.equal(true);
  });

  it('a stopped etcd is a BackendUnavailableError, and so is the etcd3 breaker error after it', async () => {
    const cluster = await startEtcdCluster(1);
    const c = etcdClient(cluster.endpoints, 1000);
    clients.push(c);
    const locks = new EtcdLocks(c, { ttlSeconds: 2, callTimeoutMs: 1000 });
    await cluster.stop();
    const causes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const e = await errorOf(locks.acquire(`down-${i}`, { waitMs: 0 }));
      expectUnavailable(e);
      causes.push(String((e as Error).cause));
    }
    expect(causes.join('\n'), 'the breaker opened').to.match(/circuit breaker is open/);
    await locks.close().catch(() => undefined);
  });

  it('maps the etcd3 breaker error by shape, and leaves our own errors alone', () => {
    const breaker = Object.assign(
      new Error('Execution prevented because the circuit breaker is open'),
      {
        isBrokenCircuitError: true,
      },
    );
    expectUnavailable(toEtcdError(breaker, 'get'));
    const ours = toEtcdError(breaker, 'get');
    expect(toEtcdError(ours, 'get')).to.equal(ours);
    const typeError = new TypeError('bug');
    expect(toEtcdError(typeError, 'get')).to.equal(typeError);
  });
});
