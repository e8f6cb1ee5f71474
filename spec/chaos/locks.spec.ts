// Chaos: 8 OS processes contend for one lock (RedisLocks, its quorum mode, then EtcdLocks) while
// holders are SIGKILLed and SIGSTOPped past their TTL, Redis restarts (in quorum mode: a member
// killed and restarted empty after one TTL) and the etcd leader dies. Every write
// goes to a separate store (redis-server) that rejects fences lower than one it has seen.
// Asserted: no mutual-exclusion violation among accepted writes, no fence that fails to increase.
// CHAOS_SCALE (default 1) multiplies the run time.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startEtcdCluster, startRedis, type RedisServer } from '../support/servers.js';

const scale = Number(process.env.CHAOS_SCALE ?? 1);
const DURATION_MS = Math.round(14_000 * scale);
const FAULT_EVERY_MS = 1_600;
const WORKERS = 8;
const fixture = fileURLToPath(new URL('../fixtures/lock/worker.ts', import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Event {
  w: string;
  t: string;
  fence?: string;
  ok?: boolean;
  at?: number;
  lostSeen?: boolean;
}

interface Worker {
  id: string;
  child: ChildProcess;
  exited: Promise<void>;
  holding: boolean;
  acquiredAt: number;
}

type Fault =
  'kill-holder' | 'pause-holder' | 'restart-redis' | 'restart-quorum-member' | 'kill-etcd-leader';

async function runChaos(
  name: string,
  env: Record<string, string>,
  ttlMs: number,
  faults: Fault[],
  backendFault: (fault: Fault) => Promise<void>,
  store: Redis,
): Promise<void> {
  const key = `chaos-${name}`;
  const events: Event[] = [];
  const workers = new Map<string, Worker>();
  let ready = 0;
  const counts: Record<string, number> = {};
  const openIntervals = new Map<string, number>();
  const intervals: { w: string; from: number; to: number }[] = [];
  let spawned = 0;

  const spawnWorker = () => {
    const id = `w${++spawned}`;
    const child = spawn(process.execPath, ['--import=tsx', fixture], {
      env: {
        ...process.env,
        ...env,
        KEY: key,
        TTL_MS: String(ttlMs),
        WORKER: id,
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const w: Worker = {
      id,
      child,
      exited: new Promise((r) => child.on('exit', () => r())),
      holding: false,
      acquiredAt: 0,
    };
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: Event;
      try {
        e = JSON.parse(line) as Event;
      } catch {
        return;
      }
      events.push(e);
      if (e.t === 'ready') ready++;
      else if (e.t === 'acquired') {
        w.holding = true;
        w.acquiredAt = Date.now();
      } else if (e.t === 'released' || e.t === 'releaseError') w.holding = false;
      else if (e.t === 'csStart') openIntervals.set(id, e.at!);
      else if (e.t === 'csEnd') {
        intervals.push({ w: id, from: openIntervals.get(id)!, to: e.at! });
        openIntervals.delete(id);
      }
    });
    workers.set(id, w);
  };
  const holder = () =>
    [...workers.values()]
      .filter((w) => w.holding && w.child.exitCode === null && w.child.signalCode === null)
      .sort((a, b) => b.acquiredAt - a.acquiredAt)[0];

  for (let i = 0; i < WORKERS; i++) spawnWorker();
  for (let waited = 0; ready < WORKERS && waited < 30_000; waited += 50) await sleep(50);
  const deadline = Date.now() + DURATION_MS;
  let round = 0;
  await sleep(500); // let them contend
  while (Date.now() < deadline - 2_000) {
    const fault = faults[round++ % faults.length];
    let h = holder();
    for (let waited = 0; !h && waited < 2_000 && fault.endsWith('holder'); waited += 5) {
      await sleep(5);
      h = holder();
    }
    if (fault === 'kill-holder' && h) {
      h.child.kill('SIGKILL');
      const from = openIntervals.get(h.id);
      if (from !== undefined) intervals.push({ w: h.id, from, to: Date.now() });
      openIntervals.delete(h.id);
      h.holding = false;
      spawnWorker();
    } else if (fault === 'pause-holder' && h) {
      h.child.kill('SIGSTOP');
      await sleep(Math.round(ttlMs * 2.5));
      h.child.kill('SIGCONT');
    } else if (
      fault === 'restart-redis' ||
      fault === 'restart-quorum-member' ||
      fault === 'kill-etcd-leader'
    ) {
      await backendFault(fault);
    } else continue;
    counts[fault] = (counts[fault] ?? 0) + 1;
    await sleep(FAULT_EVERY_MS);
  }
  await sleep(Math.max(0, deadline - Date.now()));
  for (const w of workers.values()) w.child.stdin!.end(); // workers finish their round and exit
  await Promise.race([Promise.all([...workers.values()].map((w) => w.exited)), sleep(20_000)]);
  for (const w of workers.values()) if (w.child.exitCode === null) w.child.kill('SIGKILL');

  // Accepted writes, in the store's order: "fence worker seq".
  const log = (await store.lrange(`${key}:log`, 0, -1)).map((line) => {
    const [fence, w] = line.split(' ');
    return { fence: BigInt(fence), w };
  });
  let exclusionViolations = 0;
  let fencesNotIncreasing = 0;
  const finishedRuns = new Set<bigint>();
  for (let i = 1; i < log.length; i++) {
    const prev = log[i - 1];
    const cur = log[i];
    if (cur.fence === prev.fence) {
      if (cur.w !== prev.w) exclusionViolations++; // two holders wrote under one fence
      continue;
    }
    finishedRuns.add(prev.fence);
    if (finishedRuns.has(cur.fence)) exclusionViolations++; // an older holder wrote again
    if (cur.fence < prev.fence) fencesNotIncreasing++;
  }
  // Every acquisition must carry a fresh fence.
  const acquired = events.filter((e) => e.t === 'acquired');
  const seenFence = new Map<string, string>();
  for (const e of acquired) {
    const other = seenFence.get(e.fence!);
    if (other !== undefined) {
      fencesNotIncreasing++;
      console.log(`      fence ${e.fence} acquired twice: by ${other} and ${e.w}`);
    }
    seenFence.set(e.fence!, e.w);
  }
  const writes = events.filter((e) => e.t === 'write');
  const rejected = writes.filter((e) => !e.ok);
  let unfencedOverlaps = 0;
  intervals.sort((a, b) => a.from - b.from);
  for (let i = 1; i < intervals.length; i++) {
    if (intervals[i].from < intervals[i - 1].to && intervals[i].w !== intervals[i - 1].w)
      unfencedOverlaps++;
  }
  const summary = {
    backend: name,
    seconds: DURATION_MS / 1000,
    processes: spawned,
    acquisitions: acquired.length,
    faults: counts,
    acceptedWrites: log.length,
    staleWritesRejected: rejected.length,
    staleWritesNoticedLost: rejected.filter((e) => e.lostSeen).length,
    overlapsAnUnfencedStoreWouldAccept: unfencedOverlaps,
    acquireErrors: events.filter((e) => e.t === 'acquireError').length,
    mutualExclusionViolations: exclusionViolations,
    fencesNotIncreasing,
  };
  console.log(`      chaos ${JSON.stringify(summary)}`);
  expect(exclusionViolations).to.equal(0);
  expect(fencesNotIncreasing).to.equal(0);
  expect(acquired.length).to.be.greaterThan(20);
  expect(Object.values(counts).reduce((a, b) => a + b, 0)).to.be.greaterThan(2);
  expect(Number((await store.hget(`${key}:state`, 'rejected')) ?? 0)).to.equal(rejected.length);
}

describe('lock chaos (8 OS processes, real servers, faults)', function () {
  this.timeout(DURATION_MS + 90_000);
  let storeServer: RedisServer;
  let store: Redis;

  before(async () => {
    storeServer = await startRedis();
    store = new Redis(storeServer.url);
  });
  after(async () => {
    store.disconnect();
    await storeServer.stop();
  });

  it('RedisLocks: holder SIGKILL, holder SIGSTOP past TTL, Redis restart', async () => {
    const lockServer = await startRedis();
    try {
      await runChaos(
        'redis',
        { BACKEND: 'redis', LOCK_REDIS_URL: lockServer.url, STORE_URL: storeServer.url },
        500,
        ['kill-holder', 'pause-holder', 'restart-redis'],
        () => lockServer.process.restart(),
        store,
      );
    } finally {
      await lockServer.stop();
    }
  });

  it('RedisLocks quorum mode on 3 redis-servers: holder SIGKILL, holder SIGSTOP past TTL, a member restarted empty after one TTL', async () => {
    const members = await Promise.all([startRedis(), startRedis(), startRedis()]);
    let next = 0;
    try {
      await runChaos(
        'redis-quorum',
        {
          BACKEND: 'redis',
          LOCK_REDIS_URL: members.map((m) => m.url).join(','),
          STORE_URL: storeServer.url,
        },
        500,
        ['kill-holder', 'pause-holder', 'restart-quorum-member'],
        async () => {
          // Redlock's rule for a member that lost its data: stay out one TTL before rejoining.
          const member = members[next++ % members.length];
          await member.process.stop('SIGKILL');
          await sleep(600);
          await member.process.start();
        },
        store,
      );
    } finally {
      await Promise.all(members.map((m) => m.stop()));
    }
  });

  it('EtcdLocks on a 3-member cluster: holder SIGKILL, holder SIGSTOP past TTL, leader kill', async () => {
    const cluster = await startEtcdCluster(3);
    try {
      await runChaos(
        'etcd',
        {
          BACKEND: 'etcd',
          ETCD_ENDPOINTS: cluster.endpoints.join(','),
          STORE_URL: storeServer.url,
        },
        1_000,
        ['kill-holder', 'pause-holder', 'kill-etcd-leader'],
        async () => {
          const leader = cluster.members[await cluster.leaderIndex()];
          await leader.process.stop('SIGKILL');
          await sleep(1_000);
          await leader.process.start();
        },
        store,
      );
    } finally {
      await cluster.stop();
    }
  });
});
