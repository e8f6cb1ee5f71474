// Closing the etcd3 client (issue 12, items 4 and 10): the session it carried ends (its lease is
// lost, so another client takes the lock within about a TTL), our close() still resolves, and a
// process that unsubscribed everything and closed only its own client exits by itself.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { firstValueFrom, type Subscription } from 'rxjs';
import { EtcdElection } from '../../lib/etcd/EtcdElection.js';
import { EtcdLocks } from '../../lib/etcd/EtcdLocks.js';
import { isLockLostError } from '../../lib/errors.js';
import { lock$ } from '../../lib/lock/index.js';
import { etcdClient } from '../lock/support.js';
import { sharedEtcd } from '../support/servers.js';

/** Runs the exit fixture; resolves with ms from its "closed" line to its exit (or rejects). */
function exitAfterClose(mode: 'locks' | 'election', endpoints: string[]): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import=tsx', 'spec/fixtures/etcd/exit.ts', mode, endpoints.join(',')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let closedAt: number | undefined;
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    if (d.toString().includes('closed')) closedAt = Date.now();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running 10 s after it closed its client (closed: ${closedAt})`));
    }, 18_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0 || closedAt === undefined) reject(new Error(`exit ${code}: ${stderr}`));
      else resolve(Date.now() - closedAt);
    });
  });
}

describe('closing the etcd3 client (real etcd)', function () {
  this.timeout(20_000);

  it('ends the session: lock$ errors LockLostError and another client takes the lock within about a TTL', async () => {
    const { endpoints } = await sharedEtcd();
    const first = etcdClient(endpoints);
    const second = etcdClient(endpoints);
    const ttlMs = 2_000;
    const a = new EtcdLocks(first, { prefix: 'client-close/', ttlSeconds: ttlMs / 1000 });
    const b = new EtcdLocks(second, { prefix: 'client-close/', ttlSeconds: ttlMs / 1000 });
    let sub: Subscription | undefined;
    try {
      const lost = new Promise<unknown>((resolve) => {
        sub = lock$(a, 'k').subscribe({ error: resolve });
      });
      await a.session();
      await new Promise((r) => setTimeout(r, 100));
      first.close();
      const closedAt = Date.now();
      const taken = await b.acquire('k', { waitMs: 10_000 });
      expect(Date.now() - closedAt).to.be.lessThan(ttlMs + 1_500);
      expect(isLockLostError(await lost)).to.equal(true);
      await taken.release();
      // Closing our object after its client: resolves, nothing left to do.
      await a.close();
    } finally {
      sub?.unsubscribe();
      await b.close();
      second.close();
    }
  });

  it('a campaign on a closed client steps down', async () => {
    const { endpoints } = await sharedEtcd();
    const client = etcdClient(endpoints);
    const election = new EtcdElection(client, { prefix: 'client-close/', ttlSeconds: 2 });
    const states: boolean[] = [];
    let resolveDown!: () => void;
    const down = new Promise<void>((r) => (resolveDown = r));
    const sub = election.campaign('e', 'x').subscribe((c) => {
      states.push(c.isLeader);
      if (states.includes(true) && !c.isLeader) resolveDown();
    });
    try {
      await firstValueFrom(election.observe('e'));
      while (!states.includes(true)) await new Promise((r) => setTimeout(r, 20));
      client.close();
      await down;
    } finally {
      sub.unsubscribe();
    }
  });

  for (const mode of ['locks', 'election'] as const) {
    it(`a process using ${mode} exits by itself within 10 s once it closed its client`, async () => {
      const ms = await exitAfterClose(mode, (await sharedEtcd()).endpoints);
      expect(ms).to.be.lessThan(10_000);
    });
  }
});
