import { expect } from 'chai';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { sharedEtcd, sharedRedis, startEtcdCluster } from '../support/servers.js';

describe('integration smoke: the test run talks to real servers', () => {
  it('redis-server answers SET/GET and INFO', async () => {
    const { url } = await sharedRedis();
    const redis = new Redis(url);
    try {
      await redis.set('smoke:key', 'value', 'PX', 10_000);
      expect(await redis.get('smoke:key')).to.equal('value');
      const info = await redis.info('server');
      expect(info).to.match(/redis_version:\d+\.\d+/);
    } finally {
      redis.disconnect();
    }
  });

  it('etcd answers put/get and grants a lease that expires its key on revoke', async () => {
    const { endpoints } = await sharedEtcd();
    const client = new Etcd3({ hosts: endpoints });
    try {
      await client.put('smoke/key').value('value');
      expect(await client.get('smoke/key').string()).to.equal('value');
      const lease = client.lease(5, { autoKeepAlive: false });
      await lease.put('smoke/leased').value('x');
      expect(await client.get('smoke/leased').string()).to.equal('x');
      await lease.revoke();
      expect(await client.get('smoke/leased').string()).to.equal(null);
    } finally {
      client.close();
    }
  });

  it('a 3-member etcd cluster elects a leader and survives losing it', async function () {
    this.timeout(60_000);
    const cluster = await startEtcdCluster(3);
    const client = new Etcd3({ hosts: cluster.endpoints, dialTimeout: 1000 });
    try {
      const leader = await cluster.leaderIndex();
      await cluster.members[leader].process.stop('SIGKILL');
      const survivors = cluster.members.filter((_, i) => i !== leader).map((m) => m.endpoint);
      const survivor = new Etcd3({ hosts: survivors, dialTimeout: 1000 });
      try {
        await survivor.put('smoke/after-kill').value('ok');
        expect(await survivor.get('smoke/after-kill').string()).to.equal('ok');
      } finally {
        survivor.close();
      }
      await cluster.members[leader].process.start();
      expect(await cluster.leaderIndex()).to.be.a('number');
    } finally {
      client.close();
      await cluster.stop();
    }
  });
});
