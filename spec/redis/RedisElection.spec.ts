/**
 * RedisElection against a stopped or paused redis-server (every call answers within its
 * deadline, the same objects recover after a restart), its subscriber connection's lifetime,
 * process exit, and its creation-time validation.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { Candidacy, Leader } from '../../lib/election/index.js';
import { isBackendUnavailableError } from '../../lib/errors.js';
import { RedisElection } from '../../lib/redis/index.js';
import { eventually } from '../election/conformance.js';
import { sharedRedis, startRedis, type RedisServer } from '../support/servers.js';

const prefix = `rxc-election-unit-${process.pid}:`;

describe('RedisElection with Redis down', function () {
  this.timeout(40_000);
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
  });
  beforeEach(() => {
    redis = new Redis(server.url); // ioredis defaults: offline queue, 20 retries per request
    redis.on('error', () => undefined);
  });
  afterEach(() => redis.disconnect());
  after(() => server?.stop());

  const election = () => new RedisElection(redis, { prefix, ttlMs: 10_000, commandTimeoutMs: 500 });

  it('a campaign started while Redis is down emits isLeader: false within the deadline, then leads once Redis is back', async () => {
    await server.process.stop();
    const started = performance.now();
    const history: { c: Candidacy; at: number }[] = [];
    const s = election()
      .campaign('down', 'a')
      .subscribe((c) => history.push({ c, at: performance.now() - started }));
    try {
      await eventually('not leader', () => history.length > 0, 3000);
      expect(history[0].c.isLeader).to.equal(false);
      expect(history[0].at).to.be.below(500 + 1000);
      await server.process.start();
      await eventually('leads', () => history.at(-1)?.c.isLeader, 15_000);
    } finally {
      s.unsubscribe();
    }
  });

  it('after an outage in which ioredis refused the queued SUBSCRIBE, the channel works again (a proclaim reaches an observer at once)', async () => {
    const client = new Redis(server.url, { maxRetriesPerRequest: 1 }); // gives up queued commands
    client.on('error', () => undefined);
    const e = new RedisElection(client, { prefix, ttlMs: 10_000, commandTimeoutMs: 500 });
    await server.process.stop();
    const history: Candidacy[] = [];
    const s = e.campaign('resub', 'b').subscribe((c) => history.push(c));
    try {
      await eventually('not leader', () => history.length > 0, 3000);
      await server.process.start();
      await eventually('leads', () => history.at(-1)?.isLeader, 15_000);
      const seen: (Leader | null)[] = [];
      const o = e.observe('resub').subscribe((l) => seen.push(l));
      await eventually('observed', () => seen.at(-1)?.value === 'b', 5000);
      await history.at(-1)!.proclaim('b2');
      // Without pub/sub the observer would re-read only when the key expires (~10 s).
      await eventually('proclaimed value observed', () => seen.at(-1)?.value === 'b2', 3000);
      o.unsubscribe();
    } finally {
      s.unsubscribe();
      client.disconnect();
    }
  });

  it('observe errors BackendUnavailableError within the deadline; proclaim rejects; the same election works after a restart', async () => {
    const e = election();
    const leading: Candidacy[] = [];
    const s = e.campaign('obs', 'a').subscribe((c) => c.isLeader && leading.push(c));
    await eventually('leads', () => leading.length > 0);
    server.process.signal('SIGSTOP');
    try {
      const started = performance.now();
      const observed = await new Promise<unknown>((resolve) =>
        e.observe('obs').subscribe({ next: resolve, error: resolve }),
      );
      expect(isBackendUnavailableError(observed), String(observed)).to.equal(true);
      expect(performance.now() - started).to.be.below(500 + 1000);
      const proclaimed = await leading[0].proclaim('x').catch((err: unknown) => err);
      expect(isBackendUnavailableError(proclaimed), String(proclaimed)).to.equal(true);
    } finally {
      server.process.signal('SIGCONT');
    }
    s.unsubscribe(); // resigns
    await server.process.restart();
    const seen: (Leader | null)[] = [];
    const o = e.observe('obs').subscribe((l) => seen.push(l));
    const again = e.campaign('obs', 'b').subscribe();
    await eventually('observed after restart', () => seen.at(-1)?.value === 'b', 15_000);
    again.unsubscribe();
    o.unsubscribe();
  });
});

describe('RedisElection connections and process exit', function () {
  this.timeout(30_000);
  let url: string;
  let admin: Redis;
  before(async () => {
    url = (await sharedRedis()).url;
    admin = new Redis(url);
  });
  after(() => admin.disconnect());
  const channels = async () => (await admin.pubsub('CHANNELS', `${prefix}*`)) as string[];

  it('closes its subscriber connection when the main client ends', async () => {
    const redis = new Redis(url);
    const e = new RedisElection(redis, { prefix, ttlMs: 2000 });
    const seen: unknown[] = [];
    const o = e.observe('ends').subscribe((l) => seen.push(l));
    await eventually('subscribed', async () => (await channels()).length > 0);
    await redis.quit();
    await eventually('subscriber closed', async () => (await channels()).length === 0);
    o.unsubscribe();
  });

  it('an observer whose subscriber connection was killed still sees every term, in order', async () => {
    const name = `gap-${process.pid}`;
    const watcherClient = new Redis(url, { connectionName: `rxc-gap-${process.pid}` });
    const leaderClient = new Redis(url);
    const leaders = new RedisElection(leaderClient, { prefix, ttlMs: 2000 });
    const seen: (Leader | null)[] = [];
    const o = new RedisElection(watcherClient, { prefix, ttlMs: 2000 })
      .observe(name)
      .subscribe((l) => seen.push(l));
    try {
      await eventually('first observation', () => seen.length > 0);
      // The duplicate carries the client's name; only it has subscriptions.
      const list = (await admin.client('LIST')) as string;
      const subscriber = list
        .split('\n')
        .find((line) => line.includes(`name=rxc-gap-${process.pid}`) && / sub=[1-9]/.test(line));
      expect(subscriber, list).to.not.equal(undefined);
      await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(subscriber!)![1]);
      // Leaders that resign the moment they win, while the observer hears no message: only the
      // re-read after the reconnect (and the election's leader log) can show their terms.
      const terms: bigint[] = [];
      for (let round = 0; round < 5; round++) {
        terms.push(
          await new Promise<bigint>((resolve, reject) => {
            const s = leaders.campaign(name, `quick-${round}`).subscribe({
              next: (c) => {
                if (!c.isLeader) return;
                resolve(c.term);
                queueMicrotask(() => s.unsubscribe());
              },
              error: reject,
            });
          }),
        );
      }
      await eventually(
        'the last term, then nobody',
        () => seen.some((l) => l?.term === terms.at(-1)) && seen.at(-1) === null,
      );
      const observed = seen.filter((l) => l !== null).map((l) => l.term);
      expect(observed, 'every term, in order, none missing').to.deep.equal(terms);
    } finally {
      o.unsubscribe();
      watcherClient.disconnect();
      leaderClient.disconnect();
    }
  });

  for (const how of ['quit', 'disconnect']) {
    it(`a process that unsubscribes everything and closes its client (${how}) exits by itself within 10 s`, async () => {
      const fixture = fileURLToPath(
        new URL('../fixtures/election/exit-after-unsubscribe.ts', import.meta.url),
      );
      const child = spawn(process.execPath, ['--import=tsx', fixture, url, how], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        await eventually('unsubscribed', () => out.includes('unsubscribed'), 15_000);
        const since = performance.now();
        const timer = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref());
        expect(await Promise.race([exited, timer])).to.equal(0);
        expect(performance.now() - since).to.be.below(10_000);
      } finally {
        child.kill('SIGKILL');
      }
    });
  }
});

describe('RedisElection options', () => {
  const redis = new Redis({ lazyConnect: true });
  after(() => redis.disconnect());

  it('rejects unknown option keys, naming them', () => {
    expect(() => new RedisElection(redis, { ttl: 5 } as never)).to.throw(TypeError, '"ttl"');
    const e = new RedisElection(redis);
    expect(() => e.campaign('n', 'x', { ttlSeconds: 1 } as never)).to.throw(
      TypeError,
      '"ttlSeconds"',
    );
  });

  it('rejects times above 2^31-1 ms, naming the option and the value', () => {
    expect(() => new RedisElection(redis, { ttlMs: 2 ** 31 })).to.throw(
      RangeError,
      /ttlMs.*2147483648/,
    );
    expect(() => new RedisElection(redis, { commandTimeoutMs: 2 ** 31 })).to.throw(
      RangeError,
      /commandTimeoutMs.*2147483648/,
    );
    expect(() => new RedisElection(redis, { callTimeoutMs: 0 })).to.throw(
      RangeError,
      /callTimeoutMs/,
    );
    expect(() => new RedisElection(redis, { commandTimeoutMs: 1, callTimeoutMs: 1 })).to.throw(
      TypeError,
    );
    expect(() => new RedisElection(redis).campaign('n', 'x', { ttlMs: 2 ** 31 })).to.throw(
      RangeError,
      /ttlMs.*2147483648/,
    );
    expect(() => new RedisElection(redis, { ttlMs: 2 ** 31 - 1 })).not.to.throw();
  });

  it('rejects election names that end in an internal key suffix (`jobs:term` is the term counter of `jobs`)', () => {
    const e = new RedisElection(redis);
    for (const name of ['jobs:term', 'jobs:log']) {
      expect(() => e.campaign(name, 'x'), name).to.throw(TypeError, `got "${name}"`);
      expect(() => e.observe(name), name).to.throw(TypeError, 'reserved suffix');
    }
    for (const name of ['jobs:terms', 'jobs:term:x', 'term', 'jobs:leader', 'jobs:logs'])
      expect(() => e.campaign(name, 'x'), name).not.to.throw();
  });

  it('rejects a first argument that is not an ioredis client', () => {
    const etcdLike = { get: () => undefined, put: () => undefined, close: () => undefined };
    for (const notRedis of [{}, etcdLike, null, 'redis://localhost', { eval: () => 1 }])
      expect(() => new RedisElection(notRedis as never), JSON.stringify(notRedis)).to.throw(
        TypeError,
        'redis must be an ioredis Redis or Cluster client',
      );
  });
});
