import { expect } from 'chai';
import {
  isBackendRejectedError,
  isBackendUnavailableError,
  isFatal,
  isTransient,
} from '../../lib/errors.js';
import { toRedisError } from '../../lib/redis/redisErrors.js';

/** ioredis' ReplyError carries name 'ReplyError'; a plain Error with that name stands in. */
const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

describe('toRedisError (the one Redis error mapping)', () => {
  it('grades connection failures and "cannot serve now" replies transient', () => {
    const replies = ['READONLY replica', 'LOADING dataset', 'MASTERDOWN link', 'CLUSTERDOWN x'];
    for (const cause of [new Error('Connection is closed.'), ...replies.map(reply)]) {
      const mapped = toRedisError(cause, 'acquire');
      expect(isBackendUnavailableError(mapped), cause.message).to.equal(true);
      expect(isTransient(mapped)).to.equal(true);
      expect(mapped.cause).to.equal(cause);
    }
  });

  it('grades replies that reject the request fatal BackendRejectedError', () => {
    const replies = [
      'WRONGTYPE Operation against a key holding the wrong kind of value',
      'ERR value is not an integer or out of range',
      'ERR Error running script (call to f_x): @user_script:1: bad',
    ];
    for (const cause of replies.map(reply)) {
      const mapped = toRedisError(cause, 'acquire');
      expect(isBackendRejectedError(mapped), cause.message).to.equal(true);
      expect(isFatal(mapped)).to.equal(true);
      expect(mapped.message).to.contain(cause.message).and.contain('acquire');
      expect(mapped.cause).to.equal(cause);
    }
  });
});
