// Locks core (browser-safe): the backend contract, lock$ / withLock, and the in-memory backend.
// RedisLocks and EtcdLocks live in the `rxjs-concurrency/redis` and `/etcd` entries.
export type { AcquireOptions, LockBackend, LockLease } from './LockBackend.js';
export { DEFAULT_LOCK_TTL_MS } from './LockBackend.js';
export { MemoryLocks, type MemoryLocksConfig } from './MemoryLocks.js';
export { lock$, type LockConfig } from './lock.js';
export { withLock } from './withLock.js';
