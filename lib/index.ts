// Browser-safe core entry: no Node builtins, no ioredis, no etcd3.
export * from './errors.js';
export { findError, hasErrorCode, type ErrorMatcher, type SerializedError } from './errorChain.js';
export * from './fanout/index.js';
export * from './threads/index.js';
export * from './state/index.js';
export * from './backpressure/index.js';
export * from './resilience/index.js';
export * from './lock/index.js';
export * from './election/index.js';
