/**
 * RedisRateLimiter under a dead or paused redis-server (every call answers within its deadline,
 * the same limiter recovers after a restart) and its creation-time validation.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { isBackendUnavailableError } from '../../lib/errors.js';
import { RedisRateLimiter, type RedisRateLimiterConfig } from '../../lib/redis/index.js';
import { eventually } from '../election/conformance.js';
import { startRedis, type RedisServer } from '../support/servers.js';

/** Runs `call`, returning what it rejected with and how long it took (ms). */
async function timedFailure(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - start };
}

describe('RedisRateLimiter with Redis down', function () {
  this.timeout(40_000);
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
  });
  beforeEach(() => {
    // ioredis defaults: an offline queue and 20 retries per request, so no error of its own
    // comes for many seconds; the limiter's deadline must answer.
    redis = new Redis(server.url);
    redis.on('error', () => undefined);
  });
  afterEach(() => redis.disconnect());
  after(() => server?.stop());

  const limiter = () =>
    new RedisRateLimiter(redis, { limit: 100, windowMs: 1000, commandTimeoutMs: 400 });

  it('a stopped server: tryAcquire rejects BackendUnavailableError within commandTimeoutMs, then recovers', async () => {
    const l = limiter();
    expect((await l.tryAcquire('k')).allowed).to.equal(true);
    await server.process.stop();
    const { error, ms } = await timedFailure(() => l.tryAcquire('k'));
    expect(isBackendUnavailableError(error), String(error)).to.equal(true);
    expect(ms).to.be.below(400 + 1000);
    await server.process.start(); // empty: the script cache is gone too
    const decision = await eventually('recovered', () =>
      l.tryAcquire('k').then(
        (d) => d,
        () => undefined,
      ),
    );
    expect(decision.allowed).to.equal(true);
  });

  it('a paused server (SIGSTOP): tryAcquire rejects BackendUnavailableError within commandTimeoutMs', async () => {
    const l = limiter();
    expect((await l.tryAcquire('p')).allowed).to.equal(true);
    server.process.signal('SIGSTOP');
    try {
      const { error, ms } = await timedFailure(() => l.tryAcquire('p'));
      expect(isBackendUnavailableError(error), String(error)).to.equal(true);
      expect(ms).to.be.within(350, 400 + 1000);
    } finally {
      server.process.signal('SIGCONT');
    }
    expect((await l.tryAcquire('p')).allowed).to.equal(true);
  });
});

describe('RedisRateLimiter options', () => {
  const redis = new Redis({ lazyConnect: true });
  after(() => redis.disconnect());
  const make = (config: object) => () =>
    new RedisRateLimiter(redis, config as RedisRateLimiterConfig);

  it('rejects unknown option keys, naming them', () => {
    expect(make({ limit: 1, windowMs: 10, durationMs: 5 })).to.throw(TypeError, '"durationMs"');
    expect(make({ limit: 1, windowMs: 10, url: 'redis://x' })).to.throw(TypeError, '"url"');
  });

  it('rejects times above 2^31-1 ms, naming the option and the value', () => {
    expect(make({ limit: 1, windowMs: 2 ** 31 })).to.throw(RangeError, /windowMs.*2147483648/);
    expect(make({ limit: 1, windowMs: 10, commandTimeoutMs: 2 ** 31 })).to.throw(
      RangeError,
      /commandTimeoutMs.*2147483648/,
    );
    expect(make({ limit: 1, windowMs: 10, commandTimeoutMs: 0 })).to.throw(
      RangeError,
      /commandTimeoutMs.*0/,
    );
    expect(make({ limit: 1, windowMs: 2 ** 31 - 1, commandTimeoutMs: 2 ** 31 - 1 })).not.to.throw();
  });

  it('rejects a first argument that is not an ioredis client', () => {
    const etcdLike = { get: () => undefined, put: () => undefined, close: () => undefined };
    for (const notRedis of [{}, etcdLike, null, 'redis://localhost'])
      expect(
        () => new RedisRateLimiter(notRedis as never, { limit: 1, windowMs: 1 }),
        JSON.stringify(notRedis),
      ).to.throw(TypeError, 'redis must be an ioredis Redis or Cluster client');
  });
});
