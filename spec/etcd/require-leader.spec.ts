// Issue 12, item 6: our keepalive stream carries etcd's require-leader metadata (`hasleader`, as
// Go's lease client), so a member that lost its Raft leader fails it within about 3 election
// timeouts and refuses a new one at once, instead of holding it until its request timeout
// (5 s + 2 election timeouts). A client with several endpoints then reopens it on a member with a
// leader. Test cluster: election timeout 500 ms.
import { expect } from 'chai';
import { Etcd3 } from 'etcd3';
import { EtcdSession } from '../../lib/etcd/EtcdSession.js';
import { isBackendUnavailableError } from '../../lib/errors.js';
import { startEtcdCluster } from '../support/servers.js';

async function rejection(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => expect.fail('keepalive confirmed by a member without a leader'),
    (e: unknown) => e,
  );
  return { error, ms: Date.now() - started };
}

describe('EtcdSession keepalive requires a leader (3 real etcd members)', function () {
  this.timeout(60_000);

  it('fails on a member that lost its leader within ~3 election timeouts, a new stream at once', async () => {
    const cluster = await startEtcdCluster(3);
    // Only member 0: nowhere else to go, so the stream's own failure is what we see.
    const client = new Etcd3({ hosts: [cluster.endpoints[0]], dialTimeout: 1000 });
    try {
      // A deadline far beyond the server's: only the stream failing can reject in time.
      const session = await EtcdSession.create(client, { ttlSeconds: 60, callTimeoutMs: 20_000 });
      await session.keepAliveOnce();
      await Promise.all([1, 2].map((i) => cluster.members[i].process.stop('SIGKILL')));
      const killedAt = Date.now();
      // Member 0, if it led, still renews locally until CheckQuorum makes it step down (about
      // an election timeout): keepalives sent until then are confirmed (item 6).
      let confirmedUntil = 0;
      let first: { error: unknown; ms: number } | undefined;
      while (first === undefined) {
        const sentAt = Date.now();
        const ok = await session.keepAliveOnce().then(
          () => true,
          (error: unknown) => ((first = { error, ms: Date.now() - killedAt }), false),
        );
        if (ok) confirmedUntil = sentAt - killedAt;
        if (ok) await new Promise((r) => setTimeout(r, 50));
      }
      expect(isBackendUnavailableError(first.error), String(first.error)).to.equal(true);
      expect(String(first.error)).to.match(/no leader/);
      // Without hasleader: no answer until the request timeout (6 s here), then "no leader".
      expect(first.ms).to.be.lessThan(4_000);
      const again = await rejection(session.keepAliveOnce());
      expect(String(again.error)).to.match(/no leader/);
      expect(again.ms).to.be.lessThan(1_000);
      console.log(
        `      keepalives confirmed until ${confirmedUntil} ms after quorum loss, the stream failed at ${first.ms} ms, a new one in ${again.ms} ms`,
      );
      expect(session.state).to.equal('alive'); // the lease rule, not the stream, decides loss
      await session.close().catch(() => undefined);
    } finally {
      client.close();
      await cluster.stop();
    }
  });
});
