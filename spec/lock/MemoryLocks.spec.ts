import { MemoryLocks } from '../../lib/lock/MemoryLocks.js';
import { lockConformance } from './conformance.js';

lockConformance('MemoryLocks', async () => {
  const locks = new MemoryLocks();
  return {
    client: () => locks,
    breakLock: async (lease) => {
      locks.revoke(lease.key);
    },
    fifo: true,
    ttlMs: 2_000,
    expiresWithoutExtend: true,
    settleMs: 10,
    close: async () => undefined,
  };
});
