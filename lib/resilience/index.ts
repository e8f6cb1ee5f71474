export { CircuitBreaker } from './CircuitBreaker.js';
export type {
  CircuitBreakerConfig,
  CircuitBreakerEvent,
  CircuitBreakerSnapshot,
  CircuitBreakerStats,
  CircuitState,
  CircuitWindow,
  IsolationHandle,
} from './CircuitBreaker.js';
export { circuitBreaker } from './circuitBreakerOperator.js';
export type { CircuitBreakerOperatorConfig } from './circuitBreakerOperator.js';
export { retryBackoff } from './retryBackoff.js';
export type { Jitter, RetryBackoffConfig } from './retryBackoff.js';
export { supervise } from './supervise.js';
export type { SuperviseConfig } from './supervise.js';
