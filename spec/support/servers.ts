/**
 * Real redis-server and etcd processes for integration and chaos specs, on free loopback ports
 * in temp dirs, stopped by PID. `sharedRedis()` / `sharedEtcd()` start one server per test run
 * on first use (the root hook in hooks.ts stops them); `startRedis()`, `startRedisCluster()`,
 * `startEtcdCluster(3)` give a spec its own servers to kill and restart.
 *
 * Set REDIS_URL / ETCD_ENDPOINTS to run the shared-server specs against servers of your own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const started = new Set<ChildProcess>();
const tempDirs = new Set<string>();

process.on('exit', () => {
  for (const child of started) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `rxc-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

/** True once a redis-server at `host:port` answers PING (false on any failure within 500 ms). */
export function redisPing(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(500, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
  });
}

async function etcdHealthy(clientPort: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${clientPort}/health`, {
    signal: AbortSignal.timeout(1000),
  });
  const body = (await res.json()) as { health?: string };
  return body.health === 'true';
}

/** A managed server process that can be killed, paused and restarted. */
export class ServerProcess {
  private child: ChildProcess | undefined;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly ready: () => Promise<boolean>,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  async start(): Promise<void> {
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    this.child = child;
    started.add(child);
    child.on('exit', () => started.delete(child));
    await waitFor(this.name, async () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited: ${stderr}`);
      return this.ready();
    });
  }

  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT, SIGTERM) to the process by its PID. */
  signal(signal: NodeJS.Signals): void {
    if (this.child?.pid !== undefined) process.kill(this.child.pid, signal);
  }

  /** Stops the process and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    if (signal !== 'SIGKILL') process.kill(child.pid!, 'SIGCONT');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

export interface RedisServer {
  port: number;
  url: string;
  process: ServerProcess;
  stop(): Promise<void>;
}

/** Starts a fresh redis-server (no persistence) on a free loopback port. */
export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const dir = tempDir('redis');
  const proc = new ServerProcess(
    `redis-server:${port}`,
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--pidfile',
      join(dir, 'redis.pid'),
      ...extraArgs,
    ],
    () => redisPing(port),
  );
  await proc.start();
  return { port, url: `redis://127.0.0.1:${port}`, process: proc, stop: () => proc.stop() };
}

export interface RedisCluster {
  nodes: RedisServer[];
  /** `{host, port}` seeds for `new Cluster(...)`. */
  seeds: { host: string; port: number }[];
  stop(): Promise<void>;
}

/** Starts an N-master Redis Cluster (no replicas) on loopback and waits until all slots are served. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  for (let i = 0; i < masters; i++) {
    nodes.push(
      await startRedis([
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${i}.conf`,
        '--cluster-node-timeout',
        '2000',
      ]),
    );
  }
  const result = spawnSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (result.status !== 0)
    throw new Error(`redis-cli --cluster create failed: ${result.stdout}${result.stderr}`);
  await waitFor('redis cluster', async () => {
    const out = spawnSync('redis-cli', ['-p', String(nodes[0].port), 'cluster', 'info'], {
      encoding: 'utf8',
    });
    return out.stdout.includes('cluster_state:ok');
  });
  return {
    nodes,
    seeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

export interface EtcdMember {
  name: string;
  clientPort: number;
  endpoint: string;
  process: ServerProcess;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of every member, for `new Etcd3({ hosts })`. */
  endpoints: string[];
  /** Index of the member that is the Raft leader now (asks each running member). */
  leaderIndex(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts an etcd cluster of `size` members (1 or 3, say) on loopback, each with its own data dir. */
export async function startEtcdCluster(size = 1): Promise<EtcdCluster> {
  const dir = tempDir('etcd');
  const ports: { client: number; peer: number }[] = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const initialCluster = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
  const token = `rxc-${process.pid}-${Date.now()}`;
  const members = ports.map((p, i): EtcdMember => {
    const name = `m${i}`;
    const endpoint = `http://127.0.0.1:${p.client}`;
    const proc = new ServerProcess(
      `etcd:${name}:${p.client}`,
      'etcd',
      [
        '--name',
        name,
        '--data-dir',
        join(dir, name),
        '--listen-client-urls',
        endpoint,
        '--advertise-client-urls',
        endpoint,
        '--listen-peer-urls',
        `http://127.0.0.1:${p.peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${p.peer}`,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-token',
        token,
        '--heartbeat-interval',
        '50',
        '--election-timeout',
        '500',
        '--log-level',
        'error',
      ],
      () => etcdHealthy(p.client),
    );
    return { name, clientPort: p.client, endpoint, process: proc };
  });
  // Members of a new cluster wait for each other, so start them together.
  await Promise.all(members.map((m) => m.process.start()));
  return {
    members,
    endpoints: members.map((m) => m.endpoint),
    leaderIndex: async () => {
      for (let i = 0; i < members.length; i++) {
        const m = members[i];
        if (!m.process.running) continue;
        const out = spawnSync(
          'etcdctl',
          ['--endpoints', m.endpoint, 'endpoint', 'status', '-w', 'json'],
          { encoding: 'utf8', timeout: 5000 },
        );
        if (out.status !== 0) continue;
        const [status] = JSON.parse(out.stdout) as {
          Status: { header: { member_id: number }; leader: number };
        }[];
        if (status && status.Status.leader === status.Status.header.member_id) return i;
      }
      throw new Error('no etcd leader found');
    },
    stop: async () => {
      await Promise.all(members.map((m) => m.process.stop()));
    },
  };
}

let redisShared: Promise<{ url: string; server?: RedisServer }> | undefined;
let etcdShared: Promise<{ endpoints: string[]; cluster?: EtcdCluster }> | undefined;

/** The run's shared Redis: REDIS_URL if set, else one redis-server started on first use. */
export async function sharedRedis(): Promise<{ url: string }> {
  redisShared ??= process.env.REDIS_URL
    ? Promise.resolve({ url: process.env.REDIS_URL })
    : startRedis().then((server) => ({ url: server.url, server }));
  return redisShared;
}

/** The run's shared etcd: ETCD_ENDPOINTS (comma-separated) if set, else one member started on first use. */
export async function sharedEtcd(): Promise<{ endpoints: string[] }> {
  etcdShared ??= process.env.ETCD_ENDPOINTS
    ? Promise.resolve({ endpoints: process.env.ETCD_ENDPOINTS.split(',') })
    : startEtcdCluster(1).then((cluster) => ({ endpoints: cluster.endpoints, cluster }));
  return etcdShared;
}

/** Stops the shared servers (called by the root hook after all specs). */
export async function stopSharedServers(): Promise<void> {
  const [redis, etcd] = await Promise.all([redisShared, etcdShared]);
  redisShared = etcdShared = undefined;
  await Promise.all([redis?.server?.stop(), etcd?.cluster?.stop()]);
}
