import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import { EtcdElection } from '../../lib/etcd/index.js';
import { Campaigner, electionConformance, eventually, Observer } from '../election/conformance.js';
import { startProxy } from '../election/proxy.js';
import { sharedEtcd, startEtcdCluster, type EtcdCluster } from '../support/servers.js';

const prefix = `rxc-test-election-${process.pid}/`;

/** Server-side watchers, summed over the members (etcd's own gauge). */
async function watcherCount(endpoints: string[]): Promise<number> {
  let total = 0;
  for (const endpoint of endpoints) {
    const text = await fetch(`${endpoint}/metrics`).then((r) => r.text());
    const line = text.split('\n').find((l) => l.startsWith('etcd_debugging_mvcc_watcher_total '));
    total += Number(line?.split(' ')[1] ?? 0);
  }
  return total;
}

async function etcdTarget(endpoints: string[]) {
  const client = new Etcd3({ hosts: endpoints, dialTimeout: 1000 });
  const baseline = {
    watchers: await watcherCount(endpoints),
    leases: (await client.leaseClient.leaseLeases({})).leases.length,
  };
  return {
    backend: new EtcdElection(client, { prefix, ttlSeconds: 2, callTimeoutMs: 2000 }),
    ttlMs: 2000,
    residue: async (name: string) => {
      const keys = await client.getAll().prefix(`${prefix}${name}/`).keys();
      const watchers = (await watcherCount(endpoints)) - baseline.watchers;
      const leases = (await client.leaseClient.leaseLeases({})).leases.length - baseline.leases;
      return [
        ...keys,
        ...(watchers > 0 ? [`${watchers} watchers`] : []),
        ...(leases > 0 ? [`${leases} leases`] : []),
      ];
    },
    close: async () => client.close(),
  };
}

electionConformance('etcd (1 member)', async () => etcdTarget((await sharedEtcd()).endpoints));

let cluster: EtcdCluster | undefined;
electionConformance('etcd (3 members)', async () => {
  cluster = await startEtcdCluster(3);
  const target = await etcdTarget(cluster.endpoints);
  return {
    ...target,
    close: async () => {
      await target.close();
      await cluster?.stop();
    },
  };
});

/** Runs `etcdctl <args>` against `endpoints`, collecting its stdout lines. */
function etcdctl(endpoints: string[], args: string[]) {
  const child: ChildProcess = spawn('etcdctl', ['--endpoints', endpoints.join(','), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    lines,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('EtcdElection (real etcd)', function () {
  this.timeout(30_000);
  let client: Etcd3;
  let endpoints: string[];
  let election: EtcdElection;
  before(async () => {
    endpoints = (await sharedEtcd()).endpoints;
    client = new Etcd3({ hosts: endpoints, dialTimeout: 1000 });
    election = new EtcdElection(client, { ttlSeconds: 2 });
  });
  after(() => client.close());

  it("uses etcd's election layout: <prefix><name>/<lease id hex> = value, term = create revision", async () => {
    const scoped = new EtcdElection(client, { prefix, ttlSeconds: 2 });
    const c = new Campaigner(scoped, 'layout', 'node-a', 2000);
    await eventually('leads', () => c.leads);
    const res = await client.getAll().prefix(`${prefix}layout/`).exec();
    expect(res.kvs).to.have.length(1);
    const [kv] = res.kvs;
    expect(kv.key.toString()).to.equal(c.latest!.id);
    expect(kv.key.toString()).to.equal(`${prefix}layout/${BigInt(kv.lease).toString(16)}`);
    expect(kv.value.toString()).to.equal('node-a');
    expect(BigInt(kv.create_revision)).to.equal(c.latest!.term);
    c.resign();
    await eventually(
      'key deleted',
      async () => (await client.getAll().prefix(`${prefix}layout/`).count()) === 0,
    );
  });

  it('follows `etcdctl elect`: observes its leadership, waits for it, takes over when it resigns', async () => {
    const name = `interop-in-${process.pid}`;
    const theirs = etcdctl(endpoints, ['elect', name, 'from-etcdctl']);
    try {
      await eventually('etcdctl elected', () => theirs.lines.length >= 2);
      expect(theirs.lines[0]).to.match(new RegExp(`^${name}/[0-9a-f]+$`));
      const observer = new Observer(election, name);
      await eventually('observed', () => observer.latest?.value === 'from-etcdctl');
      expect(observer.latest!.id).to.equal(theirs.lines[0]);
      const ours = new Campaigner(election, name, 'from-rxjs', 2000);
      await eventually('ours waits', () => ours.latest);
      expect(ours.leads).to.equal(false);
      await theirs.stop(); // etcdctl resigns on SIGTERM
      await eventually('ours leads', () => ours.leads);
      await eventually('observed ours', () => observer.latest?.value === 'from-rxjs');
      expect(observer.latest!.term).to.equal(ours.latest!.term);
      ours.resign();
      await eventually('none', () => observer.latest === null);
      observer.stop();
    } finally {
      await theirs.stop();
    }
  });

  it('is followed by `etcdctl elect -l` and `etcdctl elect`: they see our leader, proclaim and hand-over', async () => {
    const name = `interop-out-${process.pid}`;
    const ours = new Campaigner(election, name, 'from-rxjs', 2000);
    await eventually('ours leads', () => ours.leads);
    const listener = etcdctl(endpoints, ['elect', '-l', name]);
    const theirs = etcdctl(endpoints, ['elect', name, 'from-etcdctl']);
    try {
      await eventually('etcdctl -l sees ours', () => listener.lines.includes('from-rxjs'));
      expect(listener.lines).to.include(ours.latest!.id);
      await ours.latest!.proclaim('proclaimed');
      await eventually('etcdctl -l sees the proclaimed value', () =>
        listener.lines.includes('proclaimed'),
      );
      expect(theirs.lines).to.deep.equal([]); // still waiting behind our key
      ours.resign();
      await eventually('etcdctl elected', () => theirs.lines.includes('from-etcdctl'));
      await eventually('etcdctl -l sees it', () => listener.lines.at(-1) === 'from-etcdctl');
    } finally {
      ours.resign();
      await Promise.all([listener.stop(), theirs.stop()]);
    }
  });

  it('reports the loss at once when its key is deleted behind its back, and runs again with a higher term', async () => {
    const name = `deleted-${process.pid}`;
    const c = new Campaigner(election, name, 'node-a', 2000);
    await eventually('leads', () => c.leads);
    const first = c.latest!;
    await client.delete().key(first.id);
    await eventually('loss reported', () => c.history.some((h, i) => i > 0 && !h.isLeader));
    await eventually('leads again', () => c.leads && c.latest!.term > first.term);
    c.resign();
  });

  it('observe never names a wrong leader when candidates join an empty election at once (batched events)', async () => {
    // etcd3's layout, so etcd3's own observer can watch the same election for comparison.
    const scoped = new EtcdElection(client, { prefix: 'election/', ttlSeconds: 5 });
    const peerClient = new Etcd3({ hosts: endpoints, dialTimeout: 1000 });
    const rounds = 10;
    let theirsWrong = 0;
    try {
      for (let round = 0; round < rounds; round++) {
        const name = `batch-${process.pid}-${round}`;
        const seen = new Observer(scoped, name);
        const theirs = await peerClient.election(name, 5).observe();
        const theirsSeen: (string | undefined)[] = [];
        theirs.on('change', (v) => theirsSeen.push(v));
        await eventually('first observation', () => seen.seen.length > 0);
        const candidates = ['a', 'b', 'c'].map((id) => new Campaigner(scoped, name, id, 5000));
        const leader = (await eventually('elected', () => candidates.find((c) => c.leads)))
          .candidate;
        await eventually('observed', () => seen.latest?.value === leader);
        await eventually('all joined', () => candidates.every((c) => c.latest));
        const wrong = seen.seen.filter((l) => l !== null && l.value !== leader);
        expect(wrong, `round ${round}`).to.deep.equal([]);
        theirsWrong += theirsSeen.some((v) => v !== undefined && v !== leader) ? 1 : 0;
        seen.stop();
        await theirs.cancel();
        for (const c of candidates) c.resign();
      }
    } finally {
      peerClient.close();
    }
    console.log(
      `      (etcd3's observer named a wrong leader in ${theirsWrong} of ${rounds} rounds)`,
    );
  });

  it('a partitioned leader reports its loss before the other candidate is elected', async () => {
    const proxy = await startProxy(Number(new URL(endpoints[0]).port));
    const cutOff = new Etcd3({ hosts: `http://127.0.0.1:${proxy.port}`, dialTimeout: 1000 });
    try {
      const name = `partition-${process.pid}`;
      const events: string[] = [];
      const a = new EtcdElection(cutOff, { ttlSeconds: 1, callTimeoutMs: 1000 })
        .campaign(name, 'a')
        .subscribe((c) => events.push(`a:${c.isLeader}`));
      await eventually('a leads', () => events.includes('a:true'));
      const b = new EtcdElection(client, { ttlSeconds: 1 })
        .campaign(name, 'b')
        .subscribe((c) => events.push(`b:${c.isLeader}`));
      await eventually('b waits', () => events.includes('b:false'));
      proxy.blackhole();
      await eventually('b leads', () => events.includes('b:true'), 10_000);
      // Validity counts from the keepalive's send time, so a's own clock runs out first.
      expect(events.indexOf('a:false')).to.be.greaterThan(-1);
      expect(events.indexOf('a:false')).to.be.lessThan(events.indexOf('b:true'));
      a.unsubscribe();
      b.unsubscribe();
    } finally {
      cutOff.close();
      await proxy.close();
    }
  });

  it('validates its options when created', () => {
    expect(() => new EtcdElection({} as Etcd3)).to.throw(TypeError, 'client');
    expect(() => new EtcdElection(client, { ttlSeconds: 0 })).to.throw(RangeError, 'ttlSeconds');
    expect(() => election.campaign('', 'x')).to.throw(RangeError, 'name');
    expect(() => election.campaign('n', 'x', { ttlMs: 0 })).to.throw(RangeError, 'ttlMs');
  });
});
