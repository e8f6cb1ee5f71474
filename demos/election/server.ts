/**
 * Server side of the election page, for real backends (REDIS_URL / ETCD_ENDPOINTS): candidate
 * nodes run as separate OS processes (spec/fixtures/election/candidate.ts), so "kill" is a
 * SIGKILL and "pause" a SIGSTOP, and leadership lapses after the TTL as it would in production.
 *   GET  /sse/election/nodes?backend=redis|etcd&name=N&count=4 → node events {t, id, term, isLeader?, at}
 *   GET  /sse/election/leader?backend=redis|etcd&name=N        → leaderChanges: {id, value, term} | null
 *   POST /api/election/available                               → {redis: boolean, etcd: boolean}
 *   POST /api/election/signal {name, id, signal: 'kill'|'pause'|'resume'|'restart'}
 */
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { merge, Observable } from 'rxjs';
import { leaderChanges, type ElectionBackend } from '../../lib/election/index.js';
import { EtcdElection } from '../../lib/etcd/index.js';
import { RedisElection } from '../../lib/redis/index.js';
import { CandidateProcess, type CandidateEvent } from '../../spec/fixtures/election/processes.js';
import { demoBackends, type DemoActions, type DemoStreams } from '../kit/server-api.js';

const TTL_MS = 3000;
type Kind = 'redis' | 'etcd';

let redis: Redis | undefined;
let etcd: Etcd3 | undefined;
const elections = new Map<Kind, ElectionBackend>();
/** Running node processes per election name, so actions can signal them. */
const clusters = new Map<string, { kind: Kind; nodes: Map<string, CandidateProcess> }>();

function target(kind: Kind): string {
  const { redisUrl, etcdEndpoints } = demoBackends();
  const value = kind === 'redis' ? redisUrl : etcdEndpoints?.join(',');
  if (!value)
    throw new Error(
      `${kind} is not configured (set ${kind === 'redis' ? 'REDIS_URL' : 'ETCD_ENDPOINTS'})`,
    );
  return value;
}

function election(kind: Kind): ElectionBackend {
  let backend = elections.get(kind);
  if (backend === undefined) {
    if (kind === 'redis') {
      redis = new Redis(target('redis'), { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      backend = new RedisElection(redis, { prefix: 'chaos:', ttlMs: TTL_MS }); // the fixture's prefix
    } else {
      etcd = new Etcd3({ hosts: target('etcd').split(','), dialTimeout: 1000 });
      backend = new EtcdElection(etcd, { callTimeoutMs: 1000 });
    }
    elections.set(kind, backend);
  }
  return backend;
}

const kindOf = (params: URLSearchParams): Kind =>
  params.get('backend') === 'etcd' ? 'etcd' : 'redis';
const nameOf = (params: URLSearchParams) => params.get('name') ?? 'demo';

/** Forwards a process's events as it prints them (polls its event list every 50 ms). */
function eventsOf(node: CandidateProcess): Observable<CandidateEvent> {
  return new Observable<CandidateEvent>((subscriber) => {
    let sent = 0;
    const timer = setInterval(() => {
      while (sent < node.events.length) subscriber.next(node.events[sent++]);
    }, 50);
    return () => clearInterval(timer);
  });
}

/** Per election name: adds a restarted node's events to the page's stream. */
const restartHooks = new Map<string, (node: CandidateProcess) => void>();

function spawnNode(kind: Kind, name: string, id: string, nodes: Map<string, CandidateProcess>) {
  const node = new CandidateProcess(id, kind, target(kind), name, TTL_MS);
  nodes.set(id, node);
  return node;
}

export const streams: DemoStreams = {
  nodes(params) {
    const kind = kindOf(params);
    const name = nameOf(params);
    const count = Math.min(5, Math.max(2, Number(params.get('count') ?? 4) || 4));
    return new Observable<CandidateEvent>((subscriber) => {
      const nodes = new Map<string, CandidateProcess>();
      clusters.set(name, { kind, nodes });
      const all = [...Array(count).keys()].map((i) => spawnNode(kind, name, `n${i + 1}`, nodes));
      const subscription = merge(...all.map(eventsOf)).subscribe(subscriber);
      restartHooks.set(name, (node) => subscription.add(eventsOf(node).subscribe(subscriber)));
      return () => {
        subscription.unsubscribe();
        clusters.delete(name);
        restartHooks.delete(name);
        for (const node of nodes.values()) void node.stop();
      };
    });
  },
  leader(params) {
    return leaderChanges(election(kindOf(params)), nameOf(params));
  },
};

export const actions: DemoActions = {
  available: async () => {
    const { redisUrl, etcdEndpoints } = demoBackends();
    return { redis: redisUrl !== undefined, etcd: etcdEndpoints !== undefined };
  },
  signal: async (body) => {
    const { name, id, signal } = body as { name: string; id: string; signal: string };
    const cluster = clusters.get(name);
    const node = cluster?.nodes.get(id);
    if (cluster === undefined || node === undefined) throw new Error(`no node ${id} in ${name}`);
    if (signal === 'kill') node.signal('SIGKILL');
    else if (signal === 'pause') node.signal('SIGSTOP');
    else if (signal === 'resume') node.signal('SIGCONT');
    else if (signal === 'restart' && !node.alive)
      restartHooks.get(name)?.(spawnNode(cluster.kind, name, id, cluster.nodes));
    else throw new Error(`unknown signal ${signal}`);
    return { ok: true };
  },
};

export async function dispose(): Promise<void> {
  for (const cluster of clusters.values())
    for (const node of cluster.nodes.values()) await node.stop();
  clusters.clear();
  elections.clear();
  redis?.disconnect();
  etcd?.close();
  redis = etcd = undefined;
}
