/** `events$` of EtcdElection against the real etcd: the shared events conformance. */
import { Etcd3 } from 'etcd3';
import { EtcdElection } from '../../lib/etcd/index.js';
import { electionEventsConformance } from '../election/eventsConformance.js';
import { sharedEtcd } from '../support/servers.js';

const prefix = `rxc-test-election-events-${process.pid}/`;

electionEventsConformance('etcd (1 member)', async () => {
  const { endpoints } = await sharedEtcd();
  const client = new Etcd3({ hosts: endpoints, dialTimeout: 1000 });
  const other = new Etcd3({ hosts: endpoints, dialTimeout: 1000 });
  const config = { prefix, ttlSeconds: 2, callTimeoutMs: 2000 };
  return {
    backend: new EtcdElection(client, config),
    peer: new EtcdElection(other, config),
    ttlMs: 2000,
    now: () => Date.now(),
    // Revokes the leader's lease (its key is `<prefix><name>/<lease id hex>`): etcd deletes the key.
    forceLoss: async (_name, leader) => {
      const hex = leader.id.slice(leader.id.lastIndexOf('/') + 1);
      await client.leaseClient.leaseRevoke({ ID: BigInt(`0x${hex}`).toString() });
    },
    residue: (name) => client.getAll().prefix(`${prefix}${name}/`).keys(),
    close: async () => {
      client.close();
      other.close();
    },
  };
});
