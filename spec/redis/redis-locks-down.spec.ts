// A stopped redis-server (issue 12, down-server specs): every RedisLocks call (acquire, extend,
// release) rejects BackendUnavailableError within its deadline (`commandTimeoutMs`), and after a
// restart on the same port the same RedisLocks object works again. Single mode, and quorum mode
// with every server down and with a bare majority down (one of three still answering, so the
// votes mix real answers with failures), with ioredis' default reconnecting clients, as a user
// would have them. Prints the rejection times (the closing note quotes them).
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

interface Scenario {
  title: string;
  servers: number;
  /** How many of them are killed (the first ones). */
  killed: number;
}

const SCENARIOS: Scenario[] = [
  { title: 'single', servers: 1, killed: 1 },
  { title: 'quorum, all 3 down', servers: 3, killed: 3 },
  { title: 'quorum, 2 of 3 down', servers: 3, killed: 2 },
];

for (const { title, servers: count, killed } of SCENARIOS) {
  describe(`RedisLocks (${title}) with redis down`, function () {
    this.timeout(30_000);
    let servers: RedisServer[] = [];
    let clients: Redis[] = [];

    beforeEach(async () => {
      servers = await Promise.all(Array.from({ length: count }, () => startRedis()));
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
      const locks = new RedisLocks(count === 1 ? clients[0] : clients, {
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
        recheckMs: 100,
      });
      const dead = servers.slice(0, killed);
      try {
        const lease = await locks.acquire('down', { ttlMs: 10_000, waitMs: 0 });
        const doomed = await locks.acquire('down-2', { ttlMs: 10_000, waitMs: 0 });
        await Promise.all(dead.map((s) => s.process.stop('SIGKILL')));

        const times = {
          try: await rejectsUnavailable('a single try', () =>
            locks.acquire('other', { waitMs: 0 }),
          ),
          wait: await rejectsUnavailable('a waiting acquire (waitMs: Infinity)', () =>
            locks.acquire('other'),
          ),
          held: await rejectsUnavailable('a waiting acquire on a held key', () =>
            locks.acquire('down', { waitMs: 5_000 }),
          ),
          extend: await rejectsUnavailable('extend', () => lease.extend()),
          release: await rejectsUnavailable('release', () => doomed.release()),
        };
        console.log(`      ${title}: rejected in ${JSON.stringify(times)} ms`);

        await Promise.all(dead.map((s) => s.process.start())); // same port, no data
        await Promise.all(
          clients.map((c) => (c.status === 'ready' ? Promise.resolve() : once(c, 'ready'))),
        );
        // A fresh key: with a server still up, 'down' is held there by `lease` and the restarted
        // ones lost it (Redlock's caveat: a server that lost its data should stay down a TTL).
        const again = await locks.acquire('up', { ttlMs: 5_000, waitMs: 0 });
        await again.extend();
        // Contention again: the waiter is woken through the (re-subscribed) pub/sub connection.
        const waiting = locks.acquire('up', { ttlMs: 5_000, waitMs: 5_000 });
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
