// A stopped redis-server (issue 12, down-server specs): every RedisLocks call (acquire, extend,
// release) rejects BackendUnavailableError within its deadline (`commandTimeoutMs`), and after a
// restart on the same port the same RedisLocks object works again. Single and quorum mode (all
// servers down), with ioredis' default reconnecting clients, as a user would have them.
import { once } from 'node:events';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { isBackendUnavailableError } from '../../lib/errors.js';
import { RedisLocks } from '../../lib/redis/RedisLocks.js';
import { startRedis, type RedisServer } from '../support/servers.js';

const COMMAND_TIMEOUT_MS = 500;
/** The deadline plus room for a loaded machine. */
const BOUND_MS = COMMAND_TIMEOUT_MS + 1_000;

/** Awaits `call`, expecting BackendUnavailableError within BOUND_MS; returns the time taken. */
async function rejectsUnavailable(what: string, call: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  const e = await call().then(
    () => expect.fail(`${what} succeeded on a dead redis`),
    (err: unknown) => err,
  );
  const tookMs = Date.now() - started;
  expect(isBackendUnavailableError(e), `${what}: ${String(e)}`).to.equal(true);
  expect(tookMs, what).to.be.lessThan(BOUND_MS);
  return tookMs;
}

for (const mode of ['single', 'quorum'] as const) {
  describe(`RedisLocks (${mode}) with redis down`, function () {
    this.timeout(30_000);
    let servers: RedisServer[] = [];
    let clients: Redis[] = [];

    beforeEach(async () => {
      servers = await Promise.all((mode === 'single' ? [1] : [1, 2, 3]).map(() => startRedis()));
      clients = servers.map((s) => {
        const redis = new Redis(s.url, { retryStrategy: () => 50 });
        redis.on('error', () => undefined);
        return redis;
      });
    });
    afterEach(async () => {
      for (const c of clients) c.disconnect();
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('acquire, extend and release reject BackendUnavailableError within commandTimeoutMs; the same object works after a restart', async () => {
      const locks = new RedisLocks(mode === 'single' ? clients[0] : clients, {
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
        recheckMs: 100,
      });
      try {
        const lease = await locks.acquire('down', { ttlMs: 10_000, waitMs: 0 });
        const doomed = await locks.acquire('down-2', { ttlMs: 10_000, waitMs: 0 });
        await Promise.all(servers.map((s) => s.process.stop('SIGKILL')));

        await rejectsUnavailable('a single try', () => locks.acquire('other', { waitMs: 0 }));
        await rejectsUnavailable('a waiting acquire (waitMs: Infinity)', () =>
          locks.acquire('other'),
        );
        await rejectsUnavailable('a waiting acquire on a held key', () =>
          locks.acquire('down', { waitMs: 5_000 }),
        );
        await rejectsUnavailable('extend', () => lease.extend());
        await rejectsUnavailable('release', () => doomed.release());

        await Promise.all(servers.map((s) => s.process.start())); // same port, no data
        await Promise.all(
          clients.map(async (c) => {
            if (c.status !== 'ready') await once(c, 'ready');
          }),
        );
        const again = await locks.acquire('down', { ttlMs: 5_000, waitMs: 0 });
        await again.extend();
        // Contention again: the waiter is woken through the (re-subscribed) pub/sub connection.
        const waiting = locks.acquire('down', { ttlMs: 5_000, waitMs: 5_000 });
        await again.release();
        const next = await waiting;
        expect(next.fence > again.fence).to.equal(true);
        await next.release();
      } finally {
        locks.close();
      }
    });
  });
}
