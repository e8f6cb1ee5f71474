import { expect } from 'chai';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { firstValueFrom, range, toArray } from 'rxjs';
import { rateLimit, SlidingWindowLimiter } from '../../lib/backpressure/index.js';
import { isBackendUnavailableError } from '../../lib/errors.js';
import { RedisRateLimiter } from '../../lib/redis/index.js';
import { sharedRedis, startRedisCluster, type RedisCluster } from '../support/servers.js';

type Decision = [serverTimeUs: number, allowed: number];

/** Replays server-timed decisions through the local limiter (clock in µs): they must agree. */
function expectSameAsLocal(decisions: Decision[], limit: number, windowMs: number): void {
  const clock = { now: () => 0, schedule: () => ({}) as never };
  const local = new SlidingWindowLimiter({ limit, windowMs: windowMs * 1000, scheduler: clock });
  const sorted = [...decisions].sort((a, b) => a[0] - b[0]);
  const mismatches = sorted.filter(([us, allowed]) => {
    clock.now = () => us;
    return local.tryAcquire() !== (allowed === 1);
  });
  expect(mismatches, 'decisions that differ from SlidingWindowLimiter').to.deep.equal([]);
}

/** Most admits in any window [t, t + windowMs) starting at an admit. */
function maxInAnyWindow(admitsUs: number[], windowMs: number): number {
  let max = 0;
  for (let start = 0, end = 0; start < admitsUs.length; start++) {
    while (end < admitsUs.length && admitsUs[end] - admitsUs[start] < windowMs * 1000) end++;
    max = Math.max(max, end - start);
  }
  return max;
}

/** At least `n` decisions, going on until they span `spanMs` of server time (fast loopback can fit 400 in one window). */
async function decide(
  limiter: RedisRateLimiter,
  key: string,
  n: number,
  spanMs = 0,
): Promise<Decision[]> {
  const out: Decision[] = [];
  while (out.length < n || out[out.length - 1][0] - out[0][0] < spanMs * 1000) {
    const { allowed, serverTimeUs } = await limiter.tryAcquire(key);
    out.push([serverTimeUs, allowed ? 1 : 0]);
  }
  return out;
}

describe('RedisRateLimiter (real Redis)', function () {
  this.timeout(60_000);
  let redis: Redis;
  let prefix: string;

  before(async () => {
    redis = new Redis((await sharedRedis()).url);
  });
  beforeEach(function () {
    prefix = `rxc-test:${process.pid}:${this.currentTest?.title.slice(0, 20)}:`;
  });
  after(() => redis.disconnect());

  it('admits limit per window per key and says when to retry', async () => {
    const limiter = new RedisRateLimiter(redis, { limit: 3, windowMs: 10_000, prefix });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limiter.tryAcquire('a'));
    expect(results.map((r) => r.allowed)).to.deep.equal([true, true, true, false]);
    expect(results[3].retryAfterMs).to.be.within(9_000, 10_000);
    expect(results[0].retryAfterMs).to.equal(0);
    expect((await limiter.tryAcquire('b')).allowed).to.equal(true);
    const ttl = await redis.pttl(`${prefix}a`);
    expect(ttl).to.be.within(1, 10_000);
    expect(await redis.llen(`${prefix}a`)).to.equal(3);
  });

  it('decides exactly like SlidingWindowLimiter on the server clock', async () => {
    const limiter = new RedisRateLimiter(redis, { limit: 5, windowMs: 20, prefix });
    const decisions = await decide(limiter, 'k', 400, 100);
    expect(decisions.filter((d) => d[1] === 1).length).to.be.greaterThan(5);
    expect(decisions.filter((d) => d[1] === 0).length).to.be.greaterThan(0);
    expectSameAsLocal(decisions, 5, 20);
  });

  it('keeps at most limit entries when a key is shared with a smaller limit', async () => {
    const wide = new RedisRateLimiter(redis, { limit: 10, windowMs: 60_000, prefix });
    const narrow = new RedisRateLimiter(redis, { limit: 4, windowMs: 60_000, prefix });
    await decide(wide, 'k', 10);
    expect((await narrow.tryAcquire('k')).allowed).to.equal(false);
    expect(await redis.llen(`${prefix}k`)).to.equal(10);
  });

  it('lets an idle key expire', async () => {
    const limiter = new RedisRateLimiter(redis, { limit: 2, windowMs: 30, prefix });
    await limiter.tryAcquire('idle');
    expect(await redis.exists(`${prefix}idle`)).to.equal(1);
    await new Promise((r) => setTimeout(r, 80));
    expect(await redis.exists(`${prefix}idle`)).to.equal(0);
  });

  it('reloads its script after SCRIPT FLUSH (EVALSHA falls back to EVAL)', async () => {
    const limiter = new RedisRateLimiter(redis, { limit: 1, windowMs: 60_000, prefix });
    expect((await limiter.tryAcquire('x')).allowed).to.equal(true);
    await redis.script('FLUSH');
    expect((await limiter.tryAcquire('x')).allowed).to.equal(false);
    expect((await limiter.tryAcquire('y')).allowed).to.equal(true);
  });

  it('drives rateLimit through forKey(key)', async () => {
    const limiter = new RedisRateLimiter(redis, { limit: 3, windowMs: 60_000, prefix });
    const out = await firstValueFrom(
      range(0, 10).pipe(rateLimit({ limiter: limiter.forKey('op') }), toArray()),
    );
    expect(out).to.deep.equal([0, 1, 2]);
  });

  it("drives rateLimit 'queue': every value, in order, as permits free up", async () => {
    const limiter = new RedisRateLimiter(redis, { limit: 3, windowMs: 100, prefix });
    const out = await firstValueFrom(
      range(0, 8).pipe(
        rateLimit({ limiter: limiter.forKey('q'), overflow: 'queue', maxQueue: 8 }),
        toArray(),
      ),
    );
    expect(out).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(await redis.llen(`${prefix}q`)).to.be.at.most(3); // less once idle past a window
  });

  it('fails with BackendUnavailableError when Redis cannot be reached; other replies as they are', async () => {
    const offline = new Redis((await sharedRedis()).url, {
      lazyConnect: true,
      enableOfflineQueue: false,
    });
    const error = await new RedisRateLimiter(offline, { limit: 1, windowMs: 10 })
      .tryAcquire('k')
      .catch((e: unknown) => e);
    expect(isBackendUnavailableError(error), String(error)).to.equal(true);
    offline.disconnect();

    await redis.set(`${prefix}string`, 'not a list');
    const limiter = new RedisRateLimiter(redis, { limit: 1, windowMs: 10, prefix });
    const wrongType = await limiter.tryAcquire('string').catch((e: unknown) => e);
    expect(wrongType)
      .to.be.instanceOf(Error)
      .with.property('message')
      .that.matches(/WRONGTYPE/);
  });

  it('rejects bad options at creation', () => {
    const make = (config: object) => () =>
      new RedisRateLimiter(redis, config as { limit: number; windowMs: number });
    expect(make({ limit: 0, windowMs: 10 })).to.throw(RangeError, 'limit');
    expect(make({ limit: 1, windowMs: -1 })).to.throw(RangeError, 'windowMs');
    expect(make({ limit: 1, windowMs: NaN })).to.throw(RangeError, 'windowMs');
    expect(make({ limit: 1, windowMs: 10, prefix: 5 })).to.throw(TypeError, 'prefix');
    expect(() => new RedisRateLimiter({} as Redis, { limit: 1, windowMs: 1 })).to.throw(TypeError);
  });

  it('4 OS processes share one window: never more than limit, at least 95% under saturation', async () => {
    const limit = 100;
    const windowMs = 250;
    const durationMs = 2_000;
    const worker = fileURLToPath(
      new URL('../fixtures/backpressure/rate-limit-worker.ts', import.meta.url),
    );
    const children = Array.from({ length: 4 }, () =>
      fork(worker, { execArgv: ['--import=tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    try {
      await Promise.all(children.map((c) => new Promise((resolve) => c.once('message', resolve))));
      const { url } = await sharedRedis();
      const go = { url, key: 'shared', prefix, limit, windowMs, durationMs, inFlight: 2 };
      const results = children.map(
        (c) =>
          new Promise<Decision[]>((resolve, reject) => {
            c.once('message', (m: { decisions: Decision[] }) => resolve(m.decisions));
            // 'close', not 'exit': a child may exit before the parent has read its (large)
            // last IPC message; 'close' comes after every message was delivered.
            c.once('close', (code) => reject(new Error(`worker exited with ${code}`)));
          }),
      );
      for (const c of children) c.send(go);
      const perProcess = await Promise.all(results);

      const all = perProcess.flat();
      expectSameAsLocal(all, limit, windowMs);
      const admits = all
        .filter((d) => d[1] === 1)
        .map((d) => d[0])
        .sort((a, b) => a - b);
      expect(maxInAnyWindow(admits, windowMs)).to.equal(limit);
      for (const decisions of perProcess) {
        expect(
          decisions.filter((d) => d[1] === 1).length,
          'every process got permits',
        ).to.be.greaterThan(0);
      }

      // Under saturation (all four asking): every window [t0 + k·w, t0 + (k+1)·w) from the first
      // admit t0 on. (Sliding windows that start inside a refill burst can hold less after a
      // scheduling stall of the clients: a sliding log replays any gap in demand one window later.)
      const from = Math.max(...perProcess.map((d) => Math.min(...d.map((x) => x[0]))));
      const to = Math.min(...perProcess.map((d) => Math.max(...d.map((x) => x[0]))));
      const windowUs = windowMs * 1000;
      const counts: number[] = [];
      for (let start = admits[0]; start + windowUs <= to; start += windowUs) {
        if (start < from) continue;
        counts.push(admits.filter((t) => t >= start && t < start + windowUs).length);
      }
      expect(counts.length).to.be.at.least(4);
      const least = Math.min(...counts);
      expect(least).to.be.at.least(0.95 * limit);
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    }
  });

  describe('on a 3-master Redis Cluster', () => {
    let cluster: RedisCluster;
    let client: Cluster;
    before(async function () {
      this.timeout(60_000);
      cluster = await startRedisCluster(3);
      client = new Cluster(cluster.seeds);
    });
    after(async () => {
      client?.disconnect();
      await cluster?.stop();
    });

    it('keeps an exact window per key on every shard (hash-tagged keys)', async () => {
      const limiter = new RedisRateLimiter(client, { limit: 4, windowMs: 25, prefix: 'rl:' });
      const keys = ['{tenant-a}:api', '{tenant-b}:api', '{tenant-c}:api', '{tenant-d}:api'];
      const perKey = await Promise.all(keys.map((k) => decide(limiter, k, 150)));
      for (const decisions of perKey) expectSameAsLocal(decisions, 4, 25);
      const owners = await Promise.all(keys.map((k) => client.cluster('KEYSLOT', `rl:${k}`)));
      expect(new Set(owners).size).to.equal(4);
    });
  });
});
