import { TestScheduler, type RunHelpers } from 'rxjs/testing';
import { deepEqual } from './deepEqual.js';

/** Compares what a marble test produced with what it expected; throws when they differ. */
export type MarbleAssert = (actual: unknown, expected: unknown) => void;

/**
 * Thrown by {@link assertDeepEqual}. Carries `actual`, `expected` and `showDiff`, so mocha,
 * jest and vitest print a structural diff of the two frame lists.
 */
export class MarbleAssertionError extends Error {
  override readonly name = 'MarbleAssertionError';
  readonly showDiff = true;
  constructor(
    readonly actual: unknown,
    readonly expected: unknown,
  ) {
    super(`marbles differ\n  actual:   ${render(actual)}\n  expected: ${render(expected)}`);
  }
}

function render(frames: unknown): string {
  if (!Array.isArray(frames)) return JSON.stringify(frames, bigintSafe);
  return frames
    .map((f: unknown) => {
      const { frame, notification } = (f ?? {}) as {
        frame?: number;
        notification?: { kind?: string; value?: unknown; error?: unknown };
      };
      if (notification === undefined) return JSON.stringify(f, bigintSafe); // subscription logs
      const { kind, value, error } = notification;
      const body =
        kind === 'N'
          ? JSON.stringify(value, bigintSafe)
          : kind === 'E'
            ? `error ${String(error)}`
            : 'complete';
      return `${frame}:${body}`;
    })
    .join(' ');
}

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

/** Deep structural equality (NaN equals NaN, Maps, Sets, Dates, Errors by name and message). */
export const assertDeepEqual: MarbleAssert = (actual, expected) => {
  if (!deepEqual(actual, expected)) throw new MarbleAssertionError(actual, expected);
};

/**
 * A `TestScheduler` whose assertions compare frames structurally. Pass chai's
 * `(a, e) => { expect(a).to.deep.equal(e); }` (or any assert) to use your own.
 *
 * @example
 * const scheduler = createTestScheduler();
 * scheduler.run(({ cold, expectObservable }) => {
 *   expectObservable(cold('-a-b|').pipe(map((x) => x.toUpperCase()))).toBe('-A-B|');
 * });
 */
export function createTestScheduler(assert: MarbleAssert = assertDeepEqual): TestScheduler {
  return new TestScheduler((actual, expected) => {
    assert(actual, expected);
  });
}

/**
 * Wraps a marble test body for mocha/jest/vitest: `it('…', marbles(({ cold, expectObservable }) => …))`.
 * Each call runs in a fresh scheduler in virtual time.
 */
export function marbles(body: (helpers: RunHelpers) => void, assert?: MarbleAssert): () => void {
  return () => {
    createTestScheduler(assert).run(body);
  };
}
