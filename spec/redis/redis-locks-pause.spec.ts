// A server pause (SIGSTOP longer than the TTL) makes an acquire's reply arrive past its own
// validity: acquire must not resolve with that dead lease (issue 12, item 3). It retries within
// waitMs, or rejects LockTimeoutError once the wait time is over.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { isLockTimeoutError } from '../../lib/errors.js';
import type { LockLease } from '../../lib/lock/LockBackend.js';
import { RedisLocks } from '../../lib/redis/RedisLocks.js';
import { eventually } from '../lock/support.js';
import { startRedis, type RedisServer } from '../support/servers.js';

const PAUSE_MS = 1_000;
const TTL_MS = 300;

/** Resolves once `lease` is proven valid now: lost$ has not errored and an extend succeeds. */
async function expectAlive(lease: LockLease): Promise<void> {
  let lost: unknown;
  lease.lost$.subscribe({ error: (e: unknown) => (lost = e) });
  expect(lost, 'lost$ errored at once: acquire resolved with a dead lease').to.equal(undefined);
  await lease.extend(5_000);
  expect(lost).to.equal(undefined);
}

/** Pauses `servers` for PAUSE_MS once `sent` resolves, then resumes them. */
function pauseFor(servers: readonly RedisServer[]): Promise<void> {
  for (const s of servers) s.process.signal('SIGSTOP');
  return new Promise((resolve) =>
    setTimeout(() => {
      for (const s of servers) s.process.signal('SIGCONT');
      resolve();
    }, PAUSE_MS),
  );
}

for (const mode of ['single', 'quorum'] as const) {
  describe(`RedisLocks (${mode}): a reply that arrives past its own validity`, function () {
    this.timeout(30_000);
    let servers: RedisServer[] = [];
    const clients: Redis[] = [];
    const opened: RedisLocks[] = [];

    const connect = () =>
      servers.map((s) => {
        const redis = new Redis(s.url, { maxRetriesPerRequest: null });
        redis.on('error', () => undefined);
        clients.push(redis);
        return redis;
      });
    // commandTimeoutMs above the pause: the late reply is taken, not timed out.
    const locks = () => {
      const c = connect();
      const l = new RedisLocks(mode === 'single' ? c[0] : c, {
        recheckMs: 50,
        commandTimeoutMs: 5_000,
      });
      opened.push(l);
      return l;
    };

    beforeEach(async () => {
      servers = await Promise.all((mode === 'single' ? [1] : [1, 2, 3]).map(() => startRedis()));
    });
    afterEach(async () => {
      for (const l of opened.splice(0)) l.close();
      for (const c of clients.splice(0)) c.disconnect();
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('a queued waiter whose re-check is answered after the pause keeps waiting, then holds a live lease', async () => {
      const [admin] = connect();
      const holder = await locks().acquire('paused', { ttlMs: 400 });
      const waiting = locks().acquire('paused', { ttlMs: TTL_MS, waitMs: 10_000 });
      await eventually('the waiter queued', async () => (await admin.zcard('paused:queue')) > 0);
      await pauseFor(servers); // the holder's key expires meanwhile; the waiter's re-check waits
      const lease = await waiting;
      expect(lease.fence > holder.fence).to.equal(true);
      await expectAlive(lease);
      await lease.release();
    });

    it('a waiting acquire whose first reply is late retries and holds a live lease', async () => {
      const l = locks();
      await l.acquire('warm', { waitMs: 0 }).then((w) => w.release()); // scripts loaded
      const paused = pauseFor(servers);
      const lease = await l.acquire('free', { ttlMs: TTL_MS, waitMs: 10_000 });
      await paused;
      await expectAlive(lease);
      await lease.release();
    });

    it('a single try whose reply is late rejects LockTimeoutError and leaves the key free', async () => {
      const l = locks();
      await l.acquire('warm', { waitMs: 0 }).then((w) => w.release());
      const paused = pauseFor(servers);
      const e = await l.acquire('once', { ttlMs: TTL_MS, waitMs: 0 }).then(
        (lease) => lease,
        (err: unknown) => err,
      );
      await paused;
      expect(isLockTimeoutError(e), String(e)).to.equal(true);
      const next = await locks().acquire('once', { ttlMs: 5_000, waitMs: 0 }); // undone, not held
      await next.release();
    });
  });
}
