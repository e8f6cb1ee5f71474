export type { ConcurrencyLimit, Permit, PermitOutcome } from './ConcurrencyLimit.js';
