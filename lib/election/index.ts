// Leader election: the backend contract, the in-process backend and the operators.
// Redis and etcd backends live in the `rxjs-concurrency/redis` and `/etcd` entries.
export type {
  CampaignOptions,
  Candidacy,
  ElectionBackend,
  ElectionEvent,
  Leader,
  Leadership,
} from './ElectionBackend.js';
export { MemoryElection, type MemoryElectionConfig } from './MemoryElection.js';
export { leaderChanges } from './leaderChanges.js';
export { whileLeader } from './whileLeader.js';
