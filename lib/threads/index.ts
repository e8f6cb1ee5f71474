export * from './SharedChannel.js';
export { exposeWorker } from './exposeWorker.js';
export { threadPool } from './threadPool.js';
export type { ThreadPool, ThreadPoolConfig, ThreadPoolMapConfig } from './threadPool.js';
export type { PoolEvent } from './poolEvents.js';
