/**
 * A small network lab for partition specs: Linux network namespaces on one bridge in the root
 * namespace, cut and healed with nftables DROP rules (this kernel has no netem).
 *
 *   root ns:   bridge rxcp<pid>b  10.77.N.1/24   (the spec, its clients, the fenced store)
 *   host i:    netns  rxcp<pid>n<i>, eth0 10.77.N.(11+i)/24 (veth, root end rxcp<pid>v<i> on the bridge)
 *
 * A cut is a `netdev` table on the host's eth0 (ingress + egress hooks), so packets vanish on the
 * wire: nothing is refused, sockets just stop hearing back, as in a real partition.
 *   'all':   everything in and out of the host is dropped (its peers and its clients lose it);
 *   'peers': only traffic to/from the other hosts is dropped; clients in the root namespace still
 *            reach it (a minority partition whose clients sit on its side).
 *
 * Every name starts with `rxcp<pid>`; {@link removeLeftovers} deletes what a crashed run left
 * (namespaces, links, processes inside those namespaces) when that pid is no longer alive.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { redisPing, ServerProcess, tempDir } from './servers.js';

const run = promisify(execFile);
const PREFIX = 'rxcp';

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** Why a partition spec cannot run here (undefined when it can). */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (network namespaces and nftables need root)';
  if (!which('ip')) return '`ip` (iproute2) is missing: run scripts/services.sh ensure as root';
  if (!which('nft')) return '`nft` (nftables) is missing: run scripts/services.sh ensure as root';
  const probe = `${PREFIX}probe${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return `cannot create a network namespace: ${add.stderr.trim()}`;
  const nft = spawnSync('ip', ['netns', 'exec', probe, 'nft', 'list', 'ruleset'], {
    encoding: 'utf8',
  });
  spawnSync('ip', ['netns', 'del', probe]);
  if (nft.status !== 0) return `nftables does not work here: ${nft.stderr.trim()}`;
  return undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const ownerOf = (name: string) => {
  const m = new RegExp(`^${PREFIX}(?:probe)?(\\d+)`).exec(name);
  return m ? Number(m[1]) : undefined;
};

function namespaces(): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(PREFIX));
}

function links(): string[] {
  const out = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n.startsWith(PREFIX));
}

/** Kills (by PID) every process still running inside namespace `ns`, then deletes it. */
function deleteNamespace(ns: string): void {
  const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '')
    .split('\n')
    .map(Number)
    .filter((p) => p > 0);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'exec', ns, 'nft', 'flush', 'ruleset']);
  spawnSync('ip', ['netns', 'del', ns]);
}

/** Removes namespaces and links of earlier runs whose process is gone. Returns what it removed. */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  for (const ns of namespaces()) {
    const owner = ownerOf(ns);
    if (owner !== undefined && owner !== process.pid && pidAlive(owner)) continue;
    deleteNamespace(ns);
    removed.push(ns);
  }
  for (const link of links()) {
    const owner = ownerOf(link);
    if (owner !== undefined && owner !== process.pid && pidAlive(owner)) continue;
    spawnSync('ip', ['link', 'del', link]);
    removed.push(link);
  }
  return removed;
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** A /24 in 10.77.0.0/16 that no interface of the root namespace uses. */
function freeSubnet(): number {
  const used = spawnSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  for (let n = 1 + (process.pid % 200); n < 1 + (process.pid % 200) + 250; n++) {
    const k = (n % 250) + 1;
    if (!used.includes(` 10.77.${k}.`)) return k;
  }
  throw new Error('no free 10.77.x.0/24 subnet');
}

export type CutMode = 'all' | 'peers';

export interface Host {
  index: number;
  ns: string;
  address: string;
}

export class NetLab {
  readonly hosts: Host[] = [];
  readonly gateway: string;
  private readonly bridge: string;
  private readonly cuts = new Map<number, CutMode>();
  private readonly id = `${PREFIX}${process.pid}`;
  private created = false;

  private constructor(size: number) {
    const subnet = freeSubnet();
    this.gateway = `10.77.${subnet}.1`;
    this.bridge = `${this.id}b`;
    for (let i = 0; i < size; i++)
      this.hosts.push({ index: i, ns: `${this.id}n${i}`, address: `10.77.${subnet}.${11 + i}` });
  }

  /** Creates `size` namespaces on a fresh bridge (after removing leftovers of crashed runs). */
  static create(size: number): NetLab {
    removeLeftovers();
    const lab = new NetLab(size);
    lab.created = true;
    process.once('exit', () => lab.destroy()); // also when the run dies before after() hooks
    try {
      ip('link', 'add', lab.bridge, 'type', 'bridge');
      ip('addr', 'add', `${lab.gateway}/24`, 'dev', lab.bridge);
      ip('link', 'set', lab.bridge, 'up');
      for (const h of lab.hosts) {
        const veth = `${lab.id}v${h.index}`;
        ip('netns', 'add', h.ns);
        ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
        ip('link', 'set', veth, 'master', lab.bridge, 'up');
        ip('-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0');
        ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
        ip('-n', h.ns, 'link', 'set', 'lo', 'up');
        ip('-n', h.ns, 'route', 'add', 'default', 'via', lab.gateway);
      }
    } catch (e) {
      lab.destroy();
      throw e;
    }
    return lab;
  }

  /** `ip netns exec <ns> command args...` as a managed server process. */
  serverProcess(
    host: number,
    name: string,
    command: string,
    args: string[],
    ready: () => Promise<boolean>,
  ): ServerProcess {
    return new ServerProcess(
      name,
      'ip',
      ['netns', 'exec', this.hosts[host].ns, command, ...args],
      ready,
    );
  }

  isCut(host: number): boolean {
    return this.cuts.has(host);
  }

  /** Drops the host's traffic (see the file comment for the modes). Resolves once the rule is in. */
  async cut(host: number, mode: CutMode): Promise<void> {
    const others = this.hosts.filter((h) => h.index !== host).map((h) => h.address);
    const set = `{ ${others.join(', ')} }`;
    const rules =
      mode === 'all'
        ? [
            `chain in { type filter hook ingress device "eth0" priority 0; policy drop; }`,
            `chain out { type filter hook egress device "eth0" priority 0; policy drop; }`,
          ]
        : [
            `chain in { type filter hook ingress device "eth0" priority 0; policy accept; ip saddr ${set} drop; }`,
            `chain out { type filter hook egress device "eth0" priority 0; policy accept; ip daddr ${set} drop; }`,
          ];
    const script = `table netdev ${PREFIX} {\n  ${rules.join('\n  ')}\n}\n`;
    await nft(this.hosts[host].ns, script);
    this.cuts.set(host, mode);
  }

  /** Removes the host's cut. */
  async heal(host: number): Promise<void> {
    await run('ip', [
      'netns',
      'exec',
      this.hosts[host].ns,
      'nft',
      'delete',
      'table',
      'netdev',
      PREFIX,
    ]);
    this.cuts.delete(host);
  }

  /** Deletes the nft tables, namespaces (killing what still runs in them), veths and the bridge. */
  destroy(): void {
    if (!this.created) return;
    this.created = false;
    for (const h of this.hosts) deleteNamespace(h.ns); // takes its end of the veth with it
    for (const h of this.hosts) spawnSync('ip', ['link', 'del', `${this.id}v${h.index}`]);
    spawnSync('ip', ['link', 'del', this.bridge]);
    this.cuts.clear();
  }
}

function nft(ns: string, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], (error, _o, stderr) =>
      error ? reject(new Error(`nft in ${ns}: ${stderr || error.message}`)) : resolve(),
    );
    child.stdin!.end(script);
  });
}

// ---------------------------------------------------------------------------------------------
// Servers inside the lab

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function etcdHealthy(endpoint: string): Promise<boolean> {
  const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
  const body = (await res.json()) as { health?: string };
  return body.health === 'true';
}

export interface LabEtcdMember {
  name: string;
  host: number;
  endpoint: string;
  process: ServerProcess;
}

export interface LabEtcdStatus {
  /** This member's ID (decimal string, as the gRPC gateway spells uint64). */
  id: string;
  /** The leader this member knows of ('0' when it knows none). */
  leader: string;
  isLeader: boolean;
  raftTerm: number;
}

/** A member's own Raft view through the v3 gRPC gateway (`POST /v3/maintenance/status`). */
export async function raftStatus(
  endpoint: string,
  timeoutMs = 1000,
): Promise<LabEtcdStatus | undefined> {
  try {
    const res = await fetch(`${endpoint}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as {
      header?: { member_id?: string };
      leader?: string;
      raftTerm?: string;
    };
    const id = body.header?.member_id;
    if (id === undefined) return undefined;
    const leader = body.leader ?? '0';
    return { id, leader, isLeader: leader === id, raftTerm: Number(body.raftTerm ?? 0) };
  } catch {
    return undefined;
  }
}

export interface LabEtcdCluster {
  members: LabEtcdMember[];
  /** The member's own Raft view ({@link raftStatus}), or undefined when it does not answer. */
  status(member: number): Promise<LabEtcdStatus | undefined>;
  /** Index of the member that says it is the Raft leader (undefined if none does). */
  leaderIndex(): Promise<number | undefined>;
  /** Moves Raft leadership to `member` (`etcdctl move-leader`) and waits until it leads. */
  moveLeader(member: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A 3-member etcd cluster (member i in host i of the lab, client port 2379, peer port 2380),
 * etcd's default Raft timing (heartbeat 100 ms, election 1000 ms).
 */
export async function startLabEtcd(lab: NetLab): Promise<LabEtcdCluster> {
  const dir = tempDir('etcd-netns');
  const initialCluster = lab.hosts.map((h) => `m${h.index}=http://${h.address}:2380`).join(',');
  const token = `rxcp-${process.pid}-${Date.now()}`;
  const members = lab.hosts.map((h): LabEtcdMember => {
    const name = `m${h.index}`;
    const endpoint = `http://${h.address}:2379`;
    const proc = lab.serverProcess(
      h.index,
      `etcd:${name}:${h.address}`,
      'etcd',
      [
        '--name',
        name,
        '--data-dir',
        `${dir}/${name}`,
        '--listen-client-urls',
        endpoint,
        '--advertise-client-urls',
        endpoint,
        '--listen-peer-urls',
        `http://${h.address}:2380`,
        '--initial-advertise-peer-urls',
        `http://${h.address}:2380`,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-token',
        token,
        '--heartbeat-interval',
        '100',
        '--election-timeout',
        '1000',
        '--log-level',
        'error',
      ],
      () => etcdHealthy(endpoint),
    );
    return { name, host: h.index, endpoint, process: proc };
  });
  await Promise.all(members.map((m) => m.process.start()));

  const status = (i: number) => raftStatus(members[i].endpoint);
  const leaderIndex = async () => {
    for (let i = 0; i < members.length; i++) if ((await status(i))?.isLeader) return i;
    return undefined;
  };
  return {
    members,
    status,
    leaderIndex,
    moveLeader: async (target: number) => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const leader = await leaderIndex();
        if (leader === target) return;
        const decimal = (await status(target))?.id;
        const id = decimal === undefined ? undefined : BigInt(decimal).toString(16);
        if (leader !== undefined && id !== undefined) {
          await run(
            'etcdctl',
            ['--endpoints', members[leader].endpoint, '--command-timeout=5s', 'move-leader', id],
            { timeout: 10_000 },
          ).catch(() => undefined);
        }
        await sleep(200);
      }
      throw new Error(`etcd leadership did not move to m${target} within 30 s`);
    },
    stop: async () => {
      await Promise.all(members.map((m) => m.process.stop()));
    },
  };
}

export interface LabRedis {
  host: number;
  url: string;
  process: ServerProcess;
  stop(): Promise<void>;
}

/** A redis-server (no persistence) in host `host` of the lab, on its address, port 6379. */
export async function startLabRedis(lab: NetLab, host: number): Promise<LabRedis> {
  const { address } = lab.hosts[host];
  const dir = tempDir('redis-netns');
  const proc = lab.serverProcess(
    host,
    `redis-server:${address}`,
    'redis-server',
    [
      '--bind',
      address,
      '--port',
      '6379',
      '--protected-mode',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    () => redisPing(6379, address),
  );
  await proc.start();
  return { host, url: `redis://${address}:6379`, process: proc, stop: () => proc.stop() };
}
