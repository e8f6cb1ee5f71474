// Entry `rxjs-concurrency/etcd` (needs etcd3).
export * from './EtcdSession.js';
export * from './EtcdLocks.js';
export * from './EtcdElection.js';
export { requireLeader, type GrpcInterceptor } from './requireLeader.js';
