/**
 * Election chaos: candidates in separate OS processes, killed and paused; servers killed and
 * restarted. Prints counts and failover times; asserts safety (one leader per term, loss
 * reported, work stopped, terms rising) and failover within TTL + generous slack.
 * CHAOS_SCALE=n repeats the crash rounds n times.
 */
import { expect } from 'chai';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import type { ElectionBackend, Leader } from '../../lib/election/index.js';
import { EtcdElection } from '../../lib/etcd/index.js';
import { RedisElection } from '../../lib/redis/index.js';
import { eventually, sleep } from '../election/conformance.js';
import { CandidateProcess, claimedTerms } from '../fixtures/election/processes.js';
import { sharedEtcd, sharedRedis, startEtcdCluster, startRedis } from '../support/servers.js';

const TTL_MS = 2000;
const SLACK_MS = 3000; // generous: 2 shared cores, process start-up, GC
const ROUNDS = Math.max(1, Math.round(Number(process.env.CHAOS_SCALE ?? 1)));

interface Setup {
  kind: 'redis' | 'etcd';
  target: string;
  backend: ElectionBackend;
  close(): void;
}

async function redisSetup(url?: string): Promise<Setup> {
  const target = url ?? (await sharedRedis()).url;
  const redis = new Redis(target, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  return {
    kind: 'redis',
    target,
    backend: new RedisElection(redis, { prefix: 'chaos:', ttlMs: TTL_MS }),
    close: () => redis.disconnect(),
  };
}

async function etcdSetup(endpoints?: string[]): Promise<Setup> {
  const hosts = endpoints ?? (await sharedEtcd()).endpoints;
  const client = new Etcd3({ hosts, dialTimeout: 1000 });
  return {
    kind: 'etcd',
    target: hosts.join(','),
    backend: new EtcdElection(client, { callTimeoutMs: 1000 }),
    close: () => client.close(),
  };
}

/** Observes `name` in this process, timestamping each change. */
function watchLeader(backend: ElectionBackend, name: string) {
  const seen: { leader: Leader | null; at: number }[] = [];
  const subscription = backend
    .observe(name)
    .subscribe((leader) => seen.push({ leader, at: Date.now() }));
  return {
    seen,
    get latest() {
      return seen.at(-1)?.leader;
    },
    stop: () => subscription.unsubscribe(),
  };
}

let counter = 0;

async function withCandidates(
  setup: Setup,
  count: number,
  body: (
    procs: CandidateProcess[],
    observer: ReturnType<typeof watchLeader>,
    name: string,
  ) => Promise<void>,
) {
  const name = `chaos-${process.pid}-${++counter}`;
  const procs = Array.from(
    { length: count },
    (_, i) => new CandidateProcess(`c${i}`, setup.kind, setup.target, name, TTL_MS),
  );
  const observer = watchLeader(setup.backend, name);
  try {
    await body(procs, observer, name);
    // Safety over the whole run: never two processes leading the same term.
    for (const [term, ids] of claimedTerms(procs))
      expect([...ids], `term ${term} claimed by`).to.have.length(1);
  } finally {
    observer.stop();
    await Promise.all(procs.map((p) => p.stop()));
    setup.close();
  }
}

async function currentLeader(procs: CandidateProcess[], observer: ReturnType<typeof watchLeader>) {
  return eventually(
    'a leader process named by the observer',
    () => {
      const leading = procs.filter((p) => p.alive && p.leads);
      const named = observer.latest;
      return leading.length === 1 && named?.value === leading[0].id && leading[0];
    },
    20_000,
  );
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `n=${s.length} min=${s[0]} median=${s[Math.floor(s.length / 2)]} max=${s.at(-1)} ms`;
};

for (const kind of ['redis', 'etcd'] as const) {
  const setup = () => (kind === 'redis' ? redisSetup() : etcdSetup());

  describe(`election chaos (${kind}, candidates in separate processes)`, function () {
    this.timeout(60_000 * ROUNDS);

    it(`SIGKILL of the leader: a new leader is observed within TTL + 1 s (+ slack), with a higher term`, async () => {
      const s = await setup();
      await withCandidates(s, 3, async (procs, observer, name) => {
        const failovers: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const leader = await currentLeader(procs, observer);
          const oldTerm = leader.term!;
          const killedAt = Date.now();
          leader.signal('SIGKILL');
          const next = await eventually(
            'new leader observed',
            () => {
              const l = observer.latest;
              return l && l.value !== leader.id ? l : undefined;
            },
            TTL_MS + SLACK_MS + 5000,
          );
          failovers.push(observer.seen.at(-1)!.at - killedAt);
          expect(next.term > oldTerm).to.equal(true);
          if (round < ROUNDS - 1)
            procs.push(new CandidateProcess(`c${procs.length}`, kind, s.target, name, TTL_MS));
        }
        console.log(`      [${kind}] SIGKILL failover (TTL ${TTL_MS} ms): ${stats(failovers)}`);
        for (const f of failovers) expect(f).to.be.at.most(TTL_MS + 1000 + SLACK_MS);
      });
    });

    it('SIGSTOP of the leader past its TTL: it reports the loss on resume, its work stopped, the new term is higher', async () => {
      await withCandidates(await setup(), 3, async (procs, observer) => {
        const leader = await currentLeader(procs, observer);
        const oldTerm = leader.term!;
        const stoppedAt = Date.now();
        leader.signal('SIGSTOP');
        const next = await eventually(
          'new leader observed',
          () => {
            const l = observer.latest;
            return l && l.value !== leader.id ? l : undefined;
          },
          TTL_MS + SLACK_MS + 5000,
        );
        const failover = observer.seen.at(-1)!.at - stoppedAt;
        expect(next.term > oldTerm).to.equal(true);
        await sleep(300);
        const resumedAt = Date.now();
        leader.signal('SIGCONT');
        const loss = await eventually('paused leader reports its loss', () =>
          leader.events.find((e) => e.t === 'state' && !e.isLeader && e.at >= resumedAt),
        );
        const stopped = await eventually('its work stopped', () =>
          leader.events.find((e) => e.t === 'stop' && e.term === String(oldTerm)),
        );
        expect(stopped.at).to.be.at.least(loss.at);
        const ticksAfterLoss = leader.events.filter(
          (e) => e.t === 'tick' && e.term === String(oldTerm) && e.at > stopped.at,
        );
        expect(ticksAfterLoss).to.deep.equal([]);
        const lateTicks = leader.events.filter((e) => e.t === 'tick' && e.at >= resumedAt).length;
        console.log(
          `      [${kind}] SIGSTOP: new leader observed after ${failover} ms; paused leader reported the loss ${loss.at - resumedAt} ms after resume (${lateTicks} overdue ticks ran first: fence with the term)`,
        );
      });
    });
  });
}

describe('election chaos (servers)', function () {
  this.timeout(120_000);

  it('etcd: killing the Raft leader member keeps the election going, one process per term', async () => {
    const cluster = await startEtcdCluster(3);
    try {
      await withCandidates(await etcdSetup(cluster.endpoints), 3, async (procs, observer) => {
        const before = await currentLeader(procs, observer);
        const member = await cluster.leaderIndex();
        const killedAt = Date.now();
        await cluster.members[member].process.stop('SIGKILL');
        await sleep(TTL_MS * 2);
        const after = await currentLeader(procs, observer);
        const gaps = observer.seen.filter((s) => s.at > killedAt && s.leader === null).length;
        console.log(
          `      [etcd 3 members] Raft leader m${member} killed: leader ${before.id} (term ${before.term}) -> ${after.id} (term ${after.term}); ${observer.seen.length} observations, ${gaps} without a leader after the kill`,
        );
        expect(after.term! >= before.term!).to.equal(true);
      });
    } finally {
      await cluster.stop();
    }
  });

  it('redis: a restart (data lost) re-establishes leadership with a higher term', async () => {
    const server = await startRedis();
    try {
      await withCandidates(await redisSetup(server.url), 3, async (procs, observer) => {
        const before = await currentLeader(procs, observer);
        const oldTerm = before.term!;
        await server.process.stop('SIGKILL');
        const restartedAt = Date.now();
        await server.process.start();
        const after = await eventually(
          'leader with a higher term',
          () => procs.find((p) => p.leads && p.term! > oldTerm),
          TTL_MS + SLACK_MS + 10_000,
        );
        await currentLeader(procs, observer);
        console.log(
          `      [redis] restart: leadership re-established ${Date.now() - restartedAt} ms after the restart (term ${oldTerm} -> ${after.term})`,
        );
      });
    } finally {
      await server.stop();
    }
  });
});
