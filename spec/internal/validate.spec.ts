import { expect } from 'chai';
import { validateInteger, validateNumber, validateOneOf } from '../../lib/internal/validate.js';

describe('internal/validate', () => {
  it('validateInteger names the option and the value', () => {
    expect(() => validateInteger('concurrency', 0, 1)).to.throw(
      RangeError,
      'concurrency must be an integer >= 1, got 0',
    );
    expect(() => validateInteger('concurrency', 1.5, 1)).to.throw(RangeError, 'got 1.5');
    expect(() => validateInteger('concurrency', NaN, 1)).to.throw(RangeError, 'got NaN');
    expect(() => validateInteger('concurrency', 'x', 1)).to.throw(
      TypeError,
      'concurrency must be an integer >= 1, got "x"',
    );
    expect(() => validateInteger('maxBuffered', Infinity, 0)).to.throw(RangeError);
    expect(validateInteger('maxBuffered', Infinity, 0, { allowInfinity: true })).to.equal(Infinity);
    expect(validateInteger('n', 3, 1)).to.equal(3);
  });

  it('validateNumber and validateOneOf', () => {
    expect(() => validateNumber('windowMs', -1, { min: 0, exclusiveMin: true })).to.throw(
      RangeError,
      'windowMs must be a finite number > 0, got -1',
    );
    expect(() => validateNumber('windowMs', Infinity, { min: 0 })).to.throw(RangeError);
    expect(validateNumber('factor', 2, { min: 1 })).to.equal(2);
    expect(() => validateOneOf('overflow', 'nope', ['error', 'drop-newest'])).to.throw(
      RangeError,
      "overflow must be one of 'error', 'drop-newest', got \"nope\"",
    );
    expect(() => validateOneOf('overflow', 3, ['error'])).to.throw(TypeError);
  });
});
