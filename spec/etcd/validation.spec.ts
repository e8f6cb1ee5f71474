// Bad input to the etcd primitives (issue 12, items 11 and 12): each is rejected where it is
// written, with a TypeError or RangeError that names the argument or option and its value.
import { expect } from 'chai';
import type { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { EtcdElection } from '../../lib/etcd/EtcdElection.js';
import { EtcdLocks } from '../../lib/etcd/EtcdLocks.js';
import { EtcdSession } from '../../lib/etcd/EtcdSession.js';
import { etcdClient } from '../lock/support.js';

const TOO_LONG_MS = 2 ** 31;
/** The first whole-second TTL whose milliseconds exceed 2^31 − 1. */
const TOO_LONG_SECONDS = Math.floor((2 ** 31 - 1) / 1000) + 1;

describe('etcd primitives: bad input (no server needed)', () => {
  // Never connects: etcd3 dials lazily, on the first call.
  const client = etcdClient(['http://127.0.0.1:1']);
  const redis = new Redis({ lazyConnect: true });
  after(() => {
    client.close();
    redis.disconnect();
  });

  it('rejects a client that is not an etcd3 client, naming the argument', () => {
    const notEtcd = [redis, {}, null, undefined, 'http://127.0.0.1:2379'];
    for (const value of notEtcd) {
      const bad = value as Etcd3;
      expect(() => new EtcdLocks(bad), typeof value).to.throw(TypeError, /^client must be/);
      expect(() => new EtcdElection(bad), typeof value).to.throw(TypeError, /^client must be/);
    }
    expect(() => new EtcdLocks(redis as unknown as Etcd3)).to.throw(TypeError, /ioredis|Redis/);
  });

  it('rejects unknown option keys, naming the key', () => {
    const ttlMs = { ttlMs: 5000 } as never;
    expect(() => new EtcdLocks(client, ttlMs)).to.throw(TypeError, /"ttlMs"/);
    expect(() => new EtcdElection(client, ttlMs)).to.throw(TypeError, /"ttlMs"/);
    expect(() => new EtcdLocks(client, { prefx: 'a/' } as never)).to.throw(TypeError, /"prefx"/);
    const election = new EtcdElection(client);
    expect(() => election.campaign('n', 'x', { ttl: 5 } as never)).to.throw(TypeError, /"ttl"/);
  });

  it('rejects acquire options that are not valid for etcd, naming the key', async () => {
    const locks = new EtcdLocks(client);
    expect(() => locks.acquire('k', { wait: 5 } as never)).to.throw(TypeError, /"wait"/);
    expect(() => locks.acquire('k', { waitMs: TOO_LONG_MS })).to.throw(
      RangeError,
      `waitMs must be an integer >= 0 and <= 2147483647 or Infinity, got ${TOO_LONG_MS}`,
    );
  });

  it('rejects times above 2^31 − 1 ms, naming the option and the value', async () => {
    const seconds = { ttlSeconds: TOO_LONG_SECONDS };
    const message = `ttlSeconds must be an integer >= 1 and <= ${TOO_LONG_SECONDS - 1}, got ${TOO_LONG_SECONDS}`;
    expect(() => new EtcdLocks(client, seconds)).to.throw(RangeError, message);
    expect(() => new EtcdElection(client, seconds)).to.throw(RangeError, message);
    let sessionError: unknown;
    await EtcdSession.create(client, seconds).catch((e: unknown) => (sessionError = e));
    expect(sessionError).to.be.instanceOf(RangeError).with.property('message', message);

    const call = { callTimeoutMs: TOO_LONG_MS };
    const callMessage = `callTimeoutMs must be an integer >= 1 and <= 2147483647, got ${TOO_LONG_MS}`;
    expect(() => new EtcdLocks(client, call)).to.throw(RangeError, callMessage);
    expect(() => new EtcdElection(client, call)).to.throw(RangeError, callMessage);

    const election = new EtcdElection(client);
    expect(() => election.campaign('n', 'x', { ttlMs: TOO_LONG_MS })).to.throw(
      RangeError,
      `ttlMs must be an integer >= 1 and <= 2147483647, got ${TOO_LONG_MS}`,
    );
  });
});
