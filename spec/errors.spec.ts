import { expect } from 'chai';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as errors from '../lib/errors.js';
import {
  BrokenCircuitError,
  BufferOverflowError,
  ConcurrencyError,
  LockLostError,
  isBrokenCircuitError,
  isConcurrencyError,
  isLockLostError,
  isTransient,
} from '../lib/index.js';

describe('errors', () => {
  it('carry a stable code, a name and the cause', () => {
    const cause = new Error('socket closed');
    const e = new LockLostError('orders', undefined, { cause });
    expect(e).to.be.instanceOf(ConcurrencyError).and.instanceOf(Error);
    expect(e.code).to.equal('ERR_RXC_LOCK_LOST');
    expect(e.name).to.equal('LockLostError');
    expect(e.cause).to.equal(cause);
    expect(e.message).to.contain('orders');
  });

  it('type guards recognise their class and copies that share the code', () => {
    const e = new BrokenCircuitError('open', 250);
    expect(isBrokenCircuitError(e)).to.equal(true);
    expect(isLockLostError(e)).to.equal(false);
    expect(isConcurrencyError(e)).to.equal(true);
    const copy = Object.assign(new Error('x'), { code: 'ERR_RXC_BROKEN_CIRCUIT' });
    expect(isBrokenCircuitError(copy)).to.equal(true);
    expect(isConcurrencyError(new Error('x'))).to.equal(false);
  });

  it('isTransient classifies retryable errors, also as a cause', () => {
    expect(isTransient(new BufferOverflowError(4))).to.equal(true);
    expect(isTransient(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).to.equal(true);
    expect(
      isTransient(
        new Error('wrapped', { cause: Object.assign(new Error(), { code: 'ETIMEDOUT' }) }),
      ),
    ).to.equal(true);
    expect(isTransient(new LockLostError('k'))).to.equal(false);
    expect(isTransient(new TypeError('bug'))).to.equal(false);
    expect(isTransient(undefined)).to.equal(false);
  });
});

describe('errors: the README table', () => {
  /** An instance of every error class the package exports, built with typical arguments. */
  const instances: Record<string, Error> = {
    BufferOverflowError: new errors.BufferOverflowError(4),
    RateLimitExceededError: new errors.RateLimitExceededError(100),
    BrokenCircuitError: new errors.BrokenCircuitError('open', 100),
    WorkerCrashedError: new errors.WorkerCrashedError(),
    LockTimeoutError: new errors.LockTimeoutError('k', 10),
    BackendUnavailableError: new errors.BackendUnavailableError('redis'),
    TimeoutError: new errors.TimeoutError(10),
    LockLostError: new errors.LockLostError('k'),
    SessionExpiredError: new errors.SessionExpiredError(),
    NotLeaderError: new errors.NotLeaderError(),
    AbortedError: new errors.AbortedError(),
    BackendRejectedError: new errors.BackendRejectedError('redis'),
    WorkerLoadError: new errors.WorkerLoadError('w.js'),
  };
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const table = readme.slice(
    readme.indexOf('<!-- errors-table'),
    readme.indexOf('<!-- /errors-table'),
  );
  const rows = [...table.matchAll(/^\| `(\w+)` +\| `(\w+)` +\| (transient|fatal) +\|/gm)];

  it('lists every exported error class once, with its code', () => {
    const exported = Object.entries(errors)
      .filter(([, value]) => typeof value === 'function' && 'code' in value)
      .map(([name]) => name)
      .sort();
    expect(rows.map(([, name]) => name).sort()).to.deep.equal(exported);
    expect(Object.keys(instances).sort()).to.deep.equal(exported);
    for (const [, name, code] of rows) {
      expect((errors as unknown as Record<string, { code: string }>)[name].code).to.equal(code);
    }
  });

  it('grades each as isTransient / isFatal do, for instances and for bare codes', () => {
    for (const [, name, code, grade] of rows) {
      const transient = grade === 'transient';
      expect(isTransient(instances[name]), name).to.equal(transient);
      expect(errors.isFatal(instances[name]), name).to.equal(!transient);
      // A copy from another package version carries only the code.
      expect(isTransient(Object.assign(new Error('copy'), { code })), code).to.equal(transient);
    }
  });

  it('isFatal is the complement of isTransient for every input', () => {
    const anyError = fc.oneof(
      fc.anything(),
      fc.constantFrom(...Object.values(instances)),
      fc
        .record({
          code: fc.constantFrom('ECONNRESET', 'EPERM', 'ERR_RXC_TIMEOUT'),
          msg: fc.string(),
        })
        .map(({ code, msg }) => Object.assign(new Error(msg), { code })),
    );
    fc.assert(
      fc.property(anyError, fc.boolean(), (e, wrap) => {
        const err = wrap ? new Error('outer', { cause: e }) : e;
        expect(errors.isFatal(err)).to.equal(!isTransient(err));
      }),
    );
  });
});
