// Clock drift (issue 12, item 2): an etcd lock holder or leader whose clock runs 1 % slow or
// fast, or whose timers fire 2 ms early, must give up before a contender with a true clock can
// take over. The holder's traffic goes through a proxy that black-holes it right after one
// keepalive was answered; etcd may then expire the lease TTL after it received that keepalive,
// which is no earlier than its SEND time S. The spec plays that earliest expiry: it revokes the
// lease at S + TTL + SLACK (a server that expires promptly), and a contender waiting on a true
// clock takes over at once. Two holders at once = the holder still counts itself valid then.
import { expect } from 'chai';
import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import type { Subscription } from 'rxjs';
import { EtcdElection } from '../../lib/etcd/EtcdElection.js';
import { EtcdLocks } from '../../lib/etcd/EtcdLocks.js';
import { isLeaseNotFound } from '../../lib/etcd/etcdCall.js';
import { startProxy, type Proxy } from '../election/proxy.js';
import { etcdClient } from '../lock/support.js';
import { driftScheduler, DRIFTS } from '../support/driftScheduler.js';
import { sharedEtcd } from '../support/servers.js';

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

/**
 * Records the real send time of each keepalive written on `client`'s lease streams; once
 * `cutAfterNextAnswer()` was called, the next answer black-holes `proxy` (before the session
 * sees it) and resolves with the send time of the keepalive it answered.
 */
function tapKeepAlives(client: Etcd3, proxy: Proxy) {
  let cut: ((sentAt: number) => void) | undefined;
  const leaseClient = client.leaseClient;
  const open = leaseClient.leaseKeepAlive.bind(leaseClient);
  leaseClient.leaseKeepAlive = async (...args: Parameters<typeof open>) => {
    const stream: KeepAliveStream = await open(...args);
    const sent: number[] = [];
    const write = stream.write.bind(stream) as (req: ILeaseKeepAliveRequest) => boolean;
    stream.write = (req: ILeaseKeepAliveRequest) => {
      sent.push(Date.now());
      return write(req);
    };
    stream.on('data', () => {
      const sentAt = sent.shift()!;
      if (cut === undefined) return;
      proxy.blackhole();
      cut(sentAt);
      cut = undefined;
    });
    return stream;
  };
  return {
    cutAfterNextAnswer: () => new Promise<number>((resolve) => (cut = resolve)),
  };
}

async function proxied(): Promise<{ proxy: Proxy; client: Etcd3; direct: Etcd3 }> {
  const { endpoints } = await sharedEtcd();
  const proxy = await startProxy(Number(new URL(endpoints[0]).port));
  return {
    proxy,
    client: etcdClient([`http://127.0.0.1:${proxy.port}`], 1000),
    direct: etcdClient(endpoints),
  };
}

const at = (realMs: number) =>
  new Promise<void>((r) => setTimeout(r, Math.max(0, realMs - Date.now())));

describe('etcd leases under clock drift (real etcd)', function () {
  this.timeout(20_000);

  for (const { name, config } of DRIFTS) {
    it(`EtcdLocks: a holder with ${name} gives up before a true-clock contender takes over`, async () => {
      const TTL = 3_000;
      const SLACK = 10;
      const rate = config.rate ?? 1;
      const scheduler = driftScheduler(config);
      const { proxy, client, direct } = await proxied();
      const tap = tapKeepAlives(client, proxy);
      const holder = new EtcdLocks(client, { prefix: 'drift/', ttlSeconds: TTL / 1000, scheduler });
      const contender = new EtcdLocks(direct, { prefix: 'drift/', ttlSeconds: TTL / 1000 });
      const key = `lock-${config.rate ?? 1}-${config.earlyMs ?? 0}`;
      try {
        const lease = await holder.acquire(key, { waitMs: 0 });
        const session = await holder.session();
        const lost = new Promise<number>((resolve) =>
          lease.lost$.subscribe({ error: () => resolve(Date.now()) }),
        );
        const cut = tap.cutAfterNextAnswer();
        const taken = contender
          .acquire(key, { waitMs: 15_000 })
          .then((l) => ({ l, at: Date.now() }));
        const sentAt = await cut;
        await new Promise((r) => setImmediate(r)); // the session has read the answer now
        // The holder's own verdict, on its own clock, as a real time: no timer lateness in it.
        const validUntilReal = Date.now() + (session.expiresAt - scheduler.now()) / rate;
        await at(sentAt + TTL + SLACK);
        await direct.leaseClient.leaseRevoke({ ID: session.leaseId }).catch((e: unknown) => {
          if (!isLeaseNotFound(e)) throw e;
        });
        const took = await taken;
        const lostAt = await lost;
        expect(
          validUntilReal,
          `holder valid ${(validUntilReal - took.at).toFixed(1)} ms after the contender took over`,
        ).to.be.at.most(took.at);
        expect(lostAt).to.be.at.most(took.at + 1_000);
        await took.l.release();
      } finally {
        await proxy.close();
        await holder.close().catch(() => undefined);
        await contender.close();
        client.close();
        direct.close();
      }
    });

    it(`EtcdElection: a leader with ${name} steps down before a true-clock contender leads`, async () => {
      const TTL = 4_000;
      const SLACK = 15;
      const scheduler = driftScheduler(config);
      const { proxy, client, direct } = await proxied();
      const tap = tapKeepAlives(client, proxy);
      const options = { prefix: 'drift-election/', ttlSeconds: TTL / 1000 };
      const election = `e-${config.rate ?? 1}-${config.earlyMs ?? 0}`;
      const subs: Subscription[] = [];
      try {
        let resolveStepDown!: (at: number) => void;
        const stepDown = new Promise<number>((r) => (resolveStepDown = r));
        const led = new Promise<string>((resolve, reject) => {
          let leading = false;
          subs.push(
            new EtcdElection(client, { ...options, scheduler })
              .campaign(election, 'drifting')
              .subscribe({
                next: (c) => {
                  // The drifting leader's own verdict: its isLeader:false emission.
                  if (leading && !c.isLeader) resolveStepDown(Date.now());
                  leading = c.isLeader;
                  if (c.isLeader) resolve(c.id);
                },
                error: reject,
              }),
          );
        });
        const leaderKey = await led;
        const cut = tap.cutAfterNextAnswer();
        const contenderLeads = new Promise<number>((resolve, reject) => {
          subs.push(
            new EtcdElection(direct, options)
              .campaign(election, 'true-clock')
              .subscribe({ next: (c) => c.isLeader && resolve(Date.now()), error: reject }),
          );
        });
        const sentAt = await cut;
        await at(sentAt + TTL + SLACK);
        const leaseId = BigInt('0x' + leaderKey.slice(leaderKey.lastIndexOf('/') + 1)).toString();
        // Seen once in ~20 runs: etcd had already expired it (then the contender's time decides).
        await direct.leaseClient.leaseRevoke({ ID: leaseId }).catch((e: unknown) => {
          if (!isLeaseNotFound(e)) throw e;
        });
        const contenderAt = await contenderLeads;
        const steppedDownAt = await stepDown;
        expect(
          steppedDownAt,
          `leader still leading ${steppedDownAt - contenderAt} ms after the contender led`,
        ).to.be.at.most(contenderAt);
      } finally {
        subs.forEach((s) => s.unsubscribe());
        await proxy.close();
        client.close();
        direct.close();
      }
    });
  }
});
