// Clock drift (issue 12): a holder whose scheduler runs 1 % slow, 1 % fast or fires timers 2 ms
// early must consider its lease lost before the server expires the key, so a contender with a
// sane clock never holds the lock while the holder still believes it does. Single and quorum.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { isLockLostError } from '../../lib/errors.js';
import type { LockLease } from '../../lib/lock/LockBackend.js';
import { RedisLocks } from '../../lib/redis/RedisLocks.js';
import { DRIFTS, driftScheduler, type DriftConfig } from '../support/driftScheduler.js';
import { startRedis, type RedisServer } from '../support/servers.js';

const TTL_MS = 1_000;
/** The contender starts re-checking (every 1 ms) this long before the key expires. */
const LEAD_MS = 40;
const TRIALS = 2;

/** True if `lease` reports itself lost when asked now (lost$ reads the clock on subscribe). */
function reportsLostNow(lease: LockLease): boolean {
  let lost = false;
  lease.lost$.subscribe({ error: () => (lost = true) }).unsubscribe();
  return lost;
}

for (const mode of ['single', 'quorum'] as const) {
  describe(`RedisLocks (${mode}) under clock drift`, function () {
    this.timeout(30_000);
    let servers: RedisServer[] = [];
    const clients: Redis[] = [];
    const opened: RedisLocks[] = [];

    const locks = (config: {
      scheduler?: ReturnType<typeof driftScheduler>;
      recheckMs: number;
    }) => {
      const c = servers.map((s) => {
        const redis = new Redis(s.url);
        clients.push(redis);
        return redis;
      });
      const l = new RedisLocks(mode === 'single' ? c[0] : c, config);
      opened.push(l);
      return l;
    };

    before(async () => {
      servers = await Promise.all((mode === 'single' ? [1] : [1, 2, 3]).map(() => startRedis()));
    });
    after(async () => {
      for (const l of opened.splice(0)) l.close();
      for (const c of clients.splice(0)) c.disconnect();
      await Promise.all(servers.map((s) => s.stop()));
    });

    /** When the server will expire `key` (Date.now() ms): the earliest PTTL over the servers. */
    async function expiresAt(key: string): Promise<number> {
      const ttls = await Promise.all(clients.slice(0, servers.length).map((c) => c.pttl(key)));
      return Date.now() + Math.min(...ttls);
    }

    /**
     * The holder takes the lock and never extends it. The contender, the sharpest adversary,
     * starts waiting just before the server expires the key and re-checks every 1 ms, so it
     * gets the key within a millisecond or so of its expiry. By then the holder's own timer must
     * have reported the loss, and its clock must say so too.
     */
    async function trial(drift: DriftConfig, key: string): Promise<void> {
      const holderLocks = locks({ scheduler: driftScheduler(drift), recheckMs: 50 });
      const contenderLocks = locks({ recheckMs: 1 });
      const held = await holderLocks.acquire(key, { ttlMs: TTL_MS, waitMs: 0 });
      let lostError: unknown;
      held.lost$.subscribe({ error: (e: unknown) => (lostError = e) });
      const startIn = (await expiresAt(key)) - LEAD_MS - Date.now();
      const next = await new Promise<LockLease>((resolve, reject) =>
        setTimeout(() => {
          contenderLocks.acquire(key, { ttlMs: TTL_MS, waitMs: 10 * TTL_MS }).then(resolve, reject);
        }, startIn),
      );
      // The contender's reply is in: the server gave it the key. The holder must be out already.
      expect(lostError, 'the holder still believed it held the lock').to.not.equal(undefined);
      expect(isLockLostError(lostError), String(lostError)).to.equal(true);
      expect(reportsLostNow(held)).to.equal(true);
      expect(next.fence > held.fence).to.equal(true);
      await next.release();
    }

    for (const { name, config } of DRIFTS) {
      it(`a holder with ${name} reports its loss before the contender gets the lock (${TRIALS} trials)`, async () => {
        for (let i = 0; i < TRIALS; i++) await trial(config, `drift-${name}-${i}`);
      });
    }
  });
}
