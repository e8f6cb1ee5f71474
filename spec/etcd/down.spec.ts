// A down etcd (issue 12, down-server specs): with the only member killed (connection refused) or
// paused (SIGSTOP: nothing answers), every EtcdLocks call and a new EtcdElection campaign or
// observe rejects or reports BackendUnavailableError within its deadline (`callTimeoutMs`), and
// once the member is back the very same objects work again. The recovery times printed are
// bounded by etcd3's own per-host breaker (3 failed calls open it for 5 s).
import { expect } from 'chai';
import { Etcd3 } from 'etcd3';
import { firstValueFrom, filter, type Observable } from 'rxjs';
import { EtcdElection } from '../../lib/etcd/EtcdElection.js';
import { EtcdLocks } from '../../lib/etcd/EtcdLocks.js';
import { isBackendUnavailableError } from '../../lib/errors.js';
import { startEtcdCluster, type EtcdCluster } from '../support/servers.js';

const CALL_TIMEOUT_MS = 1_000;
/** The deadline plus room for a loaded machine. */
const BOUND_MS = CALL_TIMEOUT_MS + 1_000;

/** Awaits `call`, expecting BackendUnavailableError within BOUND_MS; returns the time taken. */
async function rejectsUnavailable(what: string, call: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  const e = await call().then(
    () => expect.fail(`${what} succeeded on a down etcd`),
    (err: unknown) => err,
  );
  const tookMs = Date.now() - started;
  expect(isBackendUnavailableError(e), `${what}: ${String(e)}`).to.equal(true);
  expect(tookMs, what).to.be.lessThan(BOUND_MS);
  return tookMs;
}

/** Retries `call` every 50 ms until it succeeds (or 20 s pass); returns ms taken and the result. */
async function recovers<T>(call: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = Date.now();
  for (;;) {
    try {
      return { ms: Date.now() - started, value: await call() };
    } catch (e) {
      if (Date.now() - started > 20_000) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const firstError = <T>(source: Observable<T>) =>
  firstValueFrom(source.pipe(filter(() => false))).catch((e: unknown) => e);

for (const mode of ['killed', 'paused'] as const) {
  describe(`etcd primitives with etcd down (${mode})`, function () {
    this.timeout(60_000);
    let cluster: EtcdCluster;
    let client: Etcd3;

    const down = () =>
      mode === 'killed'
        ? cluster.members[0].process.stop('SIGKILL')
        : cluster.members[0].process.signal('SIGSTOP');
    const up = () =>
      mode === 'killed'
        ? cluster.members[0].process.start() // same port and data dir
        : cluster.members[0].process.signal('SIGCONT');

    beforeEach(async () => {
      cluster = await startEtcdCluster(1);
      // No default call options: our callTimeoutMs is the only deadline on unary calls.
      client = new Etcd3({ hosts: cluster.endpoints, dialTimeout: CALL_TIMEOUT_MS });
    });
    afterEach(async () => {
      client.close();
      await cluster.stop();
    });

    it('EtcdLocks: acquire (try, waiting), extend and release reject within callTimeoutMs; the same objects recover', async () => {
      const config = { ttlSeconds: 10, callTimeoutMs: CALL_TIMEOUT_MS };
      const locks = new EtcdLocks(client, config);
      const contender = new EtcdLocks(client, config);
      const times: Record<string, number> = {};
      try {
        const held = await locks.acquire('held', { waitMs: 0 });
        const doomed = await locks.acquire('doomed', { waitMs: 0 });
        await down();
        // The session is still valid (TTL 10 s): these are the txn, range and delete calls.
        times.tryAcquire = await rejectsUnavailable('a single try', () =>
          locks.acquire('other', { waitMs: 0 }),
        );
        times.extend = await rejectsUnavailable('extend', () => held.extend());
        times.release = await rejectsUnavailable('release', () => doomed.release());
        // A new session: the lease grant.
        times.waitingAcquire = await rejectsUnavailable('a waiting acquire (new session)', () =>
          contender.acquire('held', { waitMs: 5_000 }),
        );
        await up();
        const upAt = Date.now();
        const again = await recovers(() => contender.acquire('again', { waitMs: 0 }));
        times.recoveredAcquire = Date.now() - upAt;
        await again.value.release();
        // The held lock survived a short outage or was lost; either way `locks` works again.
        await held.release().catch(() => undefined);
        const next = await recovers(() => locks.acquire('held', { waitMs: 5_000 }));
        await next.value.release();
        console.log(`      etcd ${mode}: ${JSON.stringify(times)} ms`);
      } finally {
        await Promise.all([locks.close(), contender.close()]).catch(() => undefined);
      }
    });

    it('EtcdElection: a new campaign reports isLeader false and a new observe errors within callTimeoutMs; both recover', async () => {
      const election = new EtcdElection(client, { ttlSeconds: 2, callTimeoutMs: CALL_TIMEOUT_MS });
      await firstValueFrom(election.observe('warm-up')); // connected before the outage
      await down();
      let started = Date.now();
      const states: boolean[] = [];
      let leaderAt: number | undefined;
      const campaign = election.campaign('down', 'x').subscribe((c) => {
        states.push(c.isLeader);
        if (c.isLeader) leaderAt ??= Date.now();
      });
      try {
        while (states.length === 0 && Date.now() - started < BOUND_MS)
          await new Promise((r) => setTimeout(r, 20));
        expect(states, 'campaign reported within the deadline').to.deep.equal([false]);
        const campaignMs = Date.now() - started;
        started = Date.now();
        const e = await firstError(election.observe('down'));
        const observeMs = Date.now() - started;
        expect(isBackendUnavailableError(e), String(e)).to.equal(true);
        expect(observeMs).to.be.lessThan(BOUND_MS);

        await up();
        const upAt = Date.now();
        const observed = await recovers(() =>
          firstValueFrom(election.observe('down').pipe(filter((l) => l?.value === 'x'))),
        );
        expect(observed.value?.value).to.equal('x');
        const leaderMs = (leaderAt ?? Date.now()) - upAt;
        console.log(
          `      etcd ${mode}: campaign ${campaignMs} ms, observe ${observeMs} ms, leader again ${leaderMs} ms after restart`,
        );
      } finally {
        campaign.unsubscribe();
      }
    });
  });
}
