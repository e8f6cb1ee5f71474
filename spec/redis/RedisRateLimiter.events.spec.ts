/** RedisRateLimiter.events$ against a real redis-server: one event per decision, with its key. */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { isBackendRejectedError, isBackendUnavailableError } from '../../lib/errors.js';
import type { RateLimiterEvent } from '../../lib/index.js';
import type { RateLimitDecision } from '../../lib/backpressure/index.js';
import { RedisRateLimiter } from '../../lib/redis/index.js';
import { freePort, sharedRedis } from '../support/servers.js';

/** What a call produced: its events (pushed as they came) then its decision or error. */
type Entry = RateLimiterEvent | { decision: RateLimitDecision } | { error: unknown };

describe('RedisRateLimiter.events$ (real Redis)', function () {
  this.timeout(20_000);
  let redis: Redis;
  let prefix: string;
  before(async () => {
    redis = new Redis((await sharedRedis()).url);
  });
  let run = 0;
  beforeEach(() => {
    prefix = `rxc:test:events:${process.pid}:${Date.now()}:${run++}:`;
  });
  after(() => redis?.disconnect());

  /** Runs `call`, logging its decision (or error) after the events it caused, with the clock around it. */
  async function logged(log: Entry[], call: () => Promise<RateLimitDecision>) {
    const before = Date.now();
    await call().then(
      (decision) => log.push({ decision }),
      (error: unknown) => log.push({ error }),
    );
    return { before, after: Date.now() };
  }

  it('forKey and tryAcquire decisions: admitted / rejected {retryAfterMs} with the key, before the promise resolves', async () => {
    const limiter = new RedisRateLimiter(redis, { limit: 2, windowMs: 60_000, prefix });
    const log: Entry[] = [];
    limiter.events$.subscribe((event) => log.push(event));
    const jobs = limiter.forKey('jobs');
    const times: Array<{ before: number; after: number }> = [];
    for (let i = 0; i < 3; i++) times.push(await logged(log, () => jobs.tryAcquire()));
    times.push(await logged(log, () => limiter.tryAcquire('user:1')));

    const events = log.filter((entry): entry is RateLimiterEvent => 'type' in entry);
    const decisions = log.filter((entry) => 'decision' in entry);
    expect(log.map((entry) => ('type' in entry ? entry.type : 'decision'))).to.deep.equal([
      'admitted',
      'decision',
      'admitted',
      'decision',
      'rejected',
      'decision',
      'admitted',
      'decision',
    ]);
    expect(events.map(({ at: _, ...rest }) => rest)).to.deep.equal([
      { type: 'admitted', key: 'jobs' },
      { type: 'admitted', key: 'jobs' },
      { type: 'rejected', key: 'jobs', retryAfterMs: decisions[2].decision.retryAfterMs },
      { type: 'admitted', key: 'user:1' },
    ]);
    const rejected = events[2] as Extract<RateLimiterEvent, { type: 'rejected' }>;
    expect(rejected.retryAfterMs).to.be.within(59_000, 60_000);
    events.forEach((event, i) => expect(event.at).to.be.within(times[i].before, times[i].after));
  });

  it('a call that fails emits nothing: WRONGTYPE (BackendRejectedError) and no server (BackendUnavailableError)', async () => {
    await redis.set(`${prefix}busy`, 'not a list');
    const limiter = new RedisRateLimiter(redis, { limit: 2, windowMs: 1000, prefix });
    const deadRedis = new Redis({ port: await freePort(), host: '127.0.0.1' });
    deadRedis.on('error', () => undefined);
    const dead = new RedisRateLimiter(deadRedis, {
      limit: 2,
      windowMs: 1000,
      commandTimeoutMs: 300,
    });
    const log: Entry[] = [];
    limiter.events$.subscribe((event) => log.push(event));
    dead.events$.subscribe((event) => log.push(event));
    try {
      await logged(log, () => limiter.tryAcquire('busy'));
      await logged(log, () => dead.tryAcquire('k'));
    } finally {
      deadRedis.disconnect();
    }
    expect(log).to.have.length(2);
    const [rejectedCall, unavailableCall] = log as Array<{ error: unknown }>;
    expect(isBackendRejectedError(rejectedCall.error), String(rejectedCall.error)).to.equal(true);
    expect(
      isBackendUnavailableError(unavailableCall.error),
      String(unavailableCall.error),
    ).to.equal(true);
  });

  it('is hot and stops at unsubscribe: a subscriber sees only the decisions answered while it listens', async () => {
    const limiter = new RedisRateLimiter(redis, { limit: 5, windowMs: 1000, prefix });
    await limiter.tryAcquire('k');
    const log: RateLimiterEvent[] = [];
    const subscription = limiter.events$.subscribe((event) => log.push(event));
    await limiter.tryAcquire('k');
    subscription.unsubscribe();
    await limiter.tryAcquire('k');
    expect(log.map(({ type, key }) => ({ type, key }))).to.deep.equal([
      { type: 'admitted', key: 'k' },
    ]);
  });
});
