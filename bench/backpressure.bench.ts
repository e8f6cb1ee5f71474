/**
 * Backpressure: SlidingWindowLimiter against a JS port of the Go seed's limiter and
 * rate-limiter-flexible's RateLimiterMemory; RedisRateLimiter against RateLimiterRedis on one
 * local redis-server; heap over 10M decisions.
 */
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { count, lastValueFrom, range, type SchedulerLike } from 'rxjs';
import { rateLimit, SlidingWindowLimiter } from 'rxjs-concurrency';
import { RedisRateLimiter } from 'rxjs-concurrency/redis';
import { startRedis } from '../spec/support/servers.js';
import {
  formatRate,
  median,
  ratio,
  scaled,
  table,
  throughput,
  writeSection,
} from './lib/harness.js';

/**
 * The Go seed's `Allow()`, ported as written: drop the expired prefix of a sorted slice of
 * timestamps (re-slicing, i.e. copying, whenever anything expired), append if under the limit.
 */
class SeedLimiter {
  private timestamps: number[] = [];
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  allow(): boolean {
    const now = this.now();
    let valid = 0;
    while (valid < this.timestamps.length && now - this.timestamps[valid] >= this.windowMs) valid++;
    if (valid > 0) this.timestamps = this.timestamps.slice(valid);
    if (this.timestamps.length < this.limit) {
      this.timestamps.push(now);
      return true;
    }
    return false;
  }
}

/** A clock that moves `step` ms every time it is read: calls arrive at a steady rate. */
function steadyClock(step: number): SchedulerLike & { read: () => number } {
  let t = 0;
  const read = () => (t += step);
  return { now: read, read, schedule: () => ({}) as never };
}

const windowMs = 1_000;
const rows: string[][] = [];
/** The clock both limiters read when driven flat out (ours through a minimal SchedulerLike). */
const wallClock: SchedulerLike = { now: Date.now, schedule: () => ({}) as never };

interface Contender {
  ops: number;
  run: () => unknown;
}

/**
 * Median rates of two contenders timed in turn (A, B, A, B, ...), so the load of a shared
 * machine hits both alike. Each has one warm-up run first.
 */
async function headToHead(a: Contender, b: Contender, rounds = 7): Promise<[number, number]> {
  const rates: [number[], number[]] = [[], []];
  await a.run();
  await b.run();
  for (let r = 0; r < rounds; r++) {
    for (const [k, c] of [a, b].entries()) {
      globalThis.gc?.();
      const start = performance.now();
      await c.run();
      rates[k].push(c.ops / ((performance.now() - start) / 1000));
    }
  }
  return [median(rates[0]), median(rates[1])];
}

/** `ops` decisions per run; state carries over between runs, so "steady" stays steady. */
const oursLoop = (limiter: SlidingWindowLimiter, ops: number): Contender => ({
  ops,
  run: () => {
    for (let i = 0; i < ops; i++) limiter.tryAcquire();
  },
});
const seedLoop = (limiter: SeedLimiter, ops: number): Contender => ({
  ops,
  run: () => {
    for (let i = 0; i < ops; i++) limiter.allow();
  },
});

function row(what: string, peer: string, [ours, theirs]: [number, number]): string[] {
  return [what, peer, formatRate(ours), formatRate(theirs), ratio(ours, theirs)];
}

// 1. Against the seed, flat out (real clock) and steady (one call per windowMs / limit).
for (const limit of [100, 10_000]) {
  const n = scaled(3_000_000);
  const ours = new SlidingWindowLimiter({ limit, windowMs, scheduler: wallClock });
  const seed = new SeedLimiter(limit, windowMs, Date.now);
  const rates = await headToHead(oursLoop(ours, n), seedLoop(seed, n));
  rows.push(row(`flat out, limit ${limit}`, 'seed port', rates));
}
// The same without the clock's cost: a fake clock frees one permit per 1,000 calls.
for (const limit of [100, 10_000]) {
  const step = windowMs / limit / 1000;
  const ours = new SlidingWindowLimiter({ limit, windowMs, scheduler: steadyClock(step) });
  const seed = new SeedLimiter(limit, windowMs, steadyClock(step).read);
  const n = scaled(3_000_000);
  const rates = await headToHead(oursLoop(ours, n), seedLoop(seed, n));
  rows.push(row(`flat out, fake clock, limit ${limit}`, 'seed port', rates));
}
for (const limit of [100, 10_000]) {
  const step = windowMs / limit;
  const ours = new SlidingWindowLimiter({ limit, windowMs, scheduler: steadyClock(step) });
  const seed = new SeedLimiter(limit, windowMs, steadyClock(step).read);
  const nSeed = scaled(limit > 1000 ? 20_000 : 500_000);
  // Fill both first, so every timed call is in the steady regime.
  for (let i = 0; i < 3 * limit; i++) {
    ours.tryAcquire();
    seed.allow();
  }
  const rates = await headToHead(oursLoop(ours, scaled(3_000_000)), seedLoop(seed, nSeed));
  rows.push(row(`steady (limit's rate), limit ${limit}`, 'seed port', rates));
}

// 2. Against RateLimiterMemory (Promise API, fixed window), flat out.
for (const limit of [100, 10_000]) {
  const ours = new SlidingWindowLimiter({ limit, windowMs, scheduler: wallClock });
  const peer = new RateLimiterMemory({ points: limit, duration: windowMs / 1000 });
  const nPeer = scaled(200_000);
  const rates = await headToHead(oursLoop(ours, scaled(3_000_000)), {
    ops: nPeer,
    run: async () => {
      for (let i = 0; i < nPeer; i++) await peer.consume('k').catch(rejected);
    },
  });
  rows.push(row(`flat out, limit ${limit}`, 'RateLimiterMemory.consume', rates));
}

function rejected(e: unknown): void {
  if (!(e instanceof RateLimiterRes)) throw e;
}

// 3. Exactness, limit 100 per 100 ms: one call at 0 ms, 200 calls at 90 ms, 200 at 110 ms.
// A fixed window admits 99 + 100 within 20 ms; the sliding window 100 in any 100 ms.
const sleepUntil = (start: number, ms: number) =>
  new Promise((r) => setTimeout(r, Math.max(0, start + ms - performance.now())));
async function mostInAnyWindow(tryAcquire: () => Promise<boolean>): Promise<number> {
  const admits: number[] = [];
  const start = performance.now();
  const burst = async (calls: number) => {
    for (let i = 0; i < calls; i++) if (await tryAcquire()) admits.push(performance.now());
  };
  await burst(1);
  await sleepUntil(start, 90);
  await burst(200);
  await sleepUntil(start, 110);
  await burst(200);
  let most = 0;
  for (let i = 0, j = 0; i < admits.length; i++) {
    while (j < admits.length && admits[j] - admits[i] < 100) j++;
    most = Math.max(most, j - i);
  }
  return most;
}
const perfClock: SchedulerLike = { now: () => performance.now(), schedule: () => ({}) as never };
const slidingLimiter = new SlidingWindowLimiter({
  limit: 100,
  windowMs: 100,
  scheduler: perfClock,
});
const fixedLimiter = new RateLimiterMemory({ points: 100, duration: 0.1 });
const exact = {
  ours: await mostInAnyWindow(() => Promise.resolve(slidingLimiter.tryAcquire())),
  peer: await mostInAnyWindow(() =>
    fixedLimiter.consume('k').then(
      () => true,
      () => false,
    ),
  ),
};

// 4. RedisRateLimiter vs RateLimiterRedis on the same local redis-server, 16 calls in flight.
const server = await startRedis();
const redisRows: string[][] = [];
try {
  const redis = new Redis(server.url);
  const n = scaled(30_000);
  const inFlight = 16;
  const drive = async (call: (i: number) => Promise<unknown>) => {
    let next = 0;
    const worker = async () => {
      while (next < n) await call(next++);
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
  };
  for (const [label, keys] of [
    ['one key, limit 1,000/s (mostly refusals)', 1],
    ['1,000 keys, limit 1,000/s (mostly admits)', 1_000],
  ] as const) {
    const ours = new RedisRateLimiter(redis, {
      limit: 1_000,
      windowMs: 1_000,
      prefix: `ours${keys}:`,
    });
    const peer = new RateLimiterRedis({
      storeClient: redis,
      points: 1_000,
      duration: 1,
      keyPrefix: `peer${keys}`,
    });
    const rates = await headToHead(
      { ops: n, run: () => drive((i) => ours.tryAcquire(String(i % keys))) },
      { ops: n, run: () => drive((i) => peer.consume(String(i % keys)).catch(rejected)) },
      9,
    );
    redisRows.push(row(label, 'RateLimiterRedis.consume', rates));
  }
  redis.disconnect();
} finally {
  await server.stop();
}

// 5. Heap over 10M decisions (steady regime: every call admits or refuses, nothing retained).
const decisions = scaled(10_000_000);
const heap = (): number => {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
};
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MB`;
const limiter = new SlidingWindowLimiter({ limit: 10_000, windowMs, scheduler: steadyClock(0.09) });
const before = heap();
for (let i = 0; i < decisions; i++) limiter.tryAcquire();
const afterLimiter = heap();
const operatorValues = scaled(2_000_000);
const operatorRate = await throughput(operatorValues, () =>
  lastValueFrom(
    range(0, operatorValues).pipe(
      rateLimit({ limit: 10_000, windowMs, scheduler: steadyClock(0.09) }),
      count(),
    ),
  ),
);
const afterOperator = heap();

writeSection(
  'backpressure',
  `## Backpressure

Decisions per second, median of 7 alternating runs (ours, peer, ours, ...), window 1 s. "Flat out": calls as fast as possible on
\`Date.now\` (both limiters read the same clock; almost every call is a refusal); "steady": a fake
clock advances windowMs / limit per call, so each call frees about one old permit (the seed then
copies its whole slice). "Fake clock" rows: the flat-out regime (999 of 1,000 calls refused)
without the cost of reading \`Date.now\`, which dominates both in the real-clock rows. The seed port is the Go article's \`Allow()\` (drop the expired prefix of
a slice of timestamps, append if under the limit).

${table(['case', 'compared with', 'SlidingWindowLimiter', 'peer', 'ratio'], rows)}

Exactness, limit 100 per 100 ms; one call at 0 ms, 200 at 90 ms, 200 at 110 ms; most admits in
any 100 ms: SlidingWindowLimiter ${exact.ours}, RateLimiterMemory ${exact.peer} (a fixed window admits up to 2x
across its edge).

RedisRateLimiter (exact sliding window, one Lua call, Redis TIME) against rate-limiter-flexible
RateLimiterRedis (fixed window) on one local redis-server 7, 16 calls in flight, one ioredis client,
median of 9 alternating runs of 30,000 decisions:

${table(['case', 'compared with', 'RedisRateLimiter', 'peer', 'ratio'], redisRows)}

Heap: ${decisions.toLocaleString('en-US')} SlidingWindowLimiter decisions (limit 10,000):
heapUsed ${mb(before)} before, ${mb(afterLimiter)} after. \`rateLimit\` operator,
${operatorValues.toLocaleString('en-US')} values from a synchronous \`range\`: ${formatRate(operatorRate)} values/s,
heapUsed ${mb(afterOperator)} after.`,
);
