// Entry `rxjs-concurrency/testing`: marble-test helpers for users' own specs.
export { createTestScheduler, marbles, assertDeepEqual, MarbleAssertionError } from './marbles.js';
export type { MarbleAssert } from './marbles.js';
