import { expect } from 'chai';
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
