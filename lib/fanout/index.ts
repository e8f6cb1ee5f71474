export type { ConcurrencyLimit, Permit, PermitOutcome } from './ConcurrencyLimit.js';
export { fanOut } from './fanOut.js';
export type { FanOutConfig, FanOutErrors, FanOutOverflow } from './fanOut.js';
export { fanIn } from './fanIn.js';
export { fanOutByKey } from './fanOutByKey.js';
export type { FanOutByKeyConfig } from './fanOutByKey.js';
