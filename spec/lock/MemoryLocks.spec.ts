import { MemoryLocks } from '../../lib/lock/MemoryLocks.js';
import { lockConformance, type LockHarness } from './conformance.js';
import { lockEventsConformance } from './eventsConformance.js';

async function harness(): Promise<LockHarness> {
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
}

lockConformance('MemoryLocks', harness);
lockEventsConformance('MemoryLocks', harness);
