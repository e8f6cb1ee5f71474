import { expect } from 'chai';
import fc from 'fast-check';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  BackendUnavailableError,
  BrokenCircuitError,
  BufferOverflowError,
  ConcurrencyError,
  LockLostError,
  NotLeaderError,
  TimeoutError,
  findError,
  hasErrorCode,
  isConcurrencyError,
  isLockLostError,
  isTimeoutError,
} from '../lib/index.js';

const reset = () => Object.assign(new Error('socket reset'), { code: 'ECONNRESET' });

describe('findError (errors.As)', () => {
  it('finds the error itself, a cause deep in the chain, or nothing', () => {
    const lost = new LockLostError('orders');
    const wrapped = new Error('job failed', { cause: new Error('step 2', { cause: lost }) });
    expect(findError(lost, LockLostError)).to.equal(lost);
    expect(findError(wrapped, LockLostError)).to.equal(lost);
    expect(findError(wrapped, TimeoutError)).to.equal(undefined);
    expect(findError(undefined, Error)).to.equal(undefined);
    expect(findError('a string', Error)).to.equal(undefined);
  });

  it('matches by class (instanceof) or by type guard (also a copy from another package)', () => {
    const copy = Object.assign(new Error('lost elsewhere'), { code: 'ERR_RXC_LOCK_LOST' });
    const err = new Error('outer', { cause: copy });
    expect(findError(err, LockLostError)).to.equal(undefined);
    expect(findError(err, isLockLostError)).to.equal(copy);
    const named = function isReset(e: unknown): e is Error & { code: string } {
      return (e as { code?: unknown }).code === 'ECONNRESET';
    };
    const r = reset();
    expect(findError(new BackendUnavailableError('redis', 'down', { cause: r }), named)).to.equal(
      r,
    );
  });

  it('walks AggregateError entries depth-first, in order, before the aggregate’s cause', () => {
    const first = new TimeoutError(10, 'first');
    const second = new TimeoutError(20, 'second');
    const nested = new AggregateError([new Error('a', { cause: first }), second], 'all failed', {
      cause: new TimeoutError(30, 'third'),
    });
    const err = new BackendUnavailableError('redis', 'quorum lost', { cause: nested });
    expect(findError(err, TimeoutError)).to.equal(first);
    expect(findError(err, (e): e is TimeoutError => isTimeoutError(e) && e.ms > 10)).to.equal(
      second,
    );
    expect(findError(err, AggregateError)).to.equal(nested);
  });

  it('is cycle-safe: a cause chain that loops ends the walk', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.assign(a, { cause: b });
    const loop = new AggregateError([a, b], 'loop');
    Object.assign(loop, { cause: loop });
    expect(findError(loop, LockLostError)).to.equal(undefined);
    expect(hasErrorCode(loop, 'ERR_RXC_LOCK_LOST')).to.equal(false);
  });

  it('property: finds an error wherever it sits in a random tree of causes and aggregates', () => {
    type Tree = { kind: 'leaf' } | { kind: 'cause'; of: Tree } | { kind: 'all'; of: Tree[] };
    const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constant<Tree>({ kind: 'leaf' }),
        fc.record({ kind: fc.constant('cause' as const), of: tie('tree') }),
        fc.record({
          kind: fc.constant('all' as const),
          of: fc.array(tie('tree'), { maxLength: 3 }),
        }),
      ),
    }));
    fc.assert(
      fc.property(tree, fc.nat(), (shape, pick) => {
        const leaves: Error[] = [];
        const build = (t: Tree): Error => {
          if (t.kind === 'leaf') {
            const leaf = new Error(`leaf ${leaves.length}`);
            leaves.push(leaf);
            return leaf;
          }
          if (t.kind === 'cause') return new Error('wrap', { cause: build(t.of) });
          return new AggregateError(t.of.map(build), 'all');
        };
        const root = build(shape);
        const target = leaves[pick % Math.max(1, leaves.length)];
        const lost = new LockLostError('k');
        if (target !== undefined) Object.assign(target, { cause: lost });
        expect(findError(root, LockLostError)).to.equal(target === undefined ? undefined : lost);
        expect(hasErrorCode(root, LockLostError.code)).to.equal(target !== undefined);
        // The first leaf in depth-first order is the first Error that is not a wrapper.
        expect(findError(root, (e): e is Error => leaves.includes(e as Error))).to.equal(leaves[0]);
      }),
    );
  });
});

describe('hasErrorCode (errors.Is by code)', () => {
  it('is true for the code of the error or of anything it wraps, by exact match', () => {
    const err = new BackendUnavailableError('etcd', 'gone', { cause: reset() });
    expect(hasErrorCode(err, 'ERR_RXC_BACKEND_UNAVAILABLE')).to.equal(true);
    expect(hasErrorCode(err, 'ECONNRESET')).to.equal(true);
    expect(hasErrorCode(err, 'ECONN')).to.equal(false);
    expect(hasErrorCode(null, 'ECONNRESET')).to.equal(false);
  });

  it('rejects a code that is not a non-empty string, naming it', () => {
    expect(() => hasErrorCode(new Error(), '')).to.throw(TypeError, 'code must be');
    expect(() => hasErrorCode(new Error(), 42 as unknown as string)).to.throw(/got 42/);
  });
});

describe('ConcurrencyError#toJSON', () => {
  it('writes name, code, message, the typed context and the cause chain', () => {
    const err = new BackendUnavailableError('redis', 'redis is unavailable', { cause: reset() });
    expect(JSON.parse(JSON.stringify(err))).to.deep.equal({
      name: 'BackendUnavailableError',
      code: 'ERR_RXC_BACKEND_UNAVAILABLE',
      message: 'redis is unavailable',
      backend: 'redis',
      cause: { name: 'Error', message: 'socket reset', code: 'ECONNRESET' },
    });
    expect(new BrokenCircuitError('half-open', 250).toJSON()).to.deep.equal({
      name: 'BrokenCircuitError',
      code: 'ERR_RXC_BROKEN_CIRCUIT',
      message: 'circuit is half-open; retry after 250 ms',
      state: 'half-open',
      retryAfterMs: 250,
    });
    expect(new BufferOverflowError(8).toJSON()).to.include({ capacity: 8 });
  });

  it('writes bigint fences and terms as exact decimal strings', () => {
    const fence = 2n ** 63n - 1n;
    const lost = new LockLostError('orders', undefined, { fence });
    expect(lost.toJSON()).to.include({ key: 'orders', fence: '9223372036854775807' });
    expect(new NotLeaderError('resigned', { term: 12345678901234567n }).toJSON()).to.include({
      term: '12345678901234567',
    });
    // No fence known: the field is absent, not undefined.
    expect(Object.keys(new LockLostError('k').toJSON())).to.not.include('fence');
  });

  it('serialises an AggregateError inside a cause, entry by entry', () => {
    const aggregate = new AggregateError(
      [new TimeoutError(5), Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })],
      'every member failed',
    );
    const json = new BackendUnavailableError('redis', 'no quorum', { cause: aggregate }).toJSON();
    expect(json.cause).to.deep.equal({
      name: 'AggregateError',
      message: 'every member failed',
      errors: [
        { name: 'TimeoutError', code: 'ERR_RXC_TIMEOUT', message: 'timed out after 5 ms', ms: 5 },
        { name: 'Error', message: 'refused', code: 'ECONNREFUSED' },
      ],
    });
  });

  it('is cycle-safe and keeps only the primitive fields of a non-error cause', () => {
    const err = new LockLostError('k', 'lost');
    const middle = new Error('middle', { cause: err });
    Object.assign(err, { cause: middle });
    expect(JSON.parse(JSON.stringify(err))).to.deep.equal({
      name: 'LockLostError',
      code: 'ERR_RXC_LOCK_LOST',
      message: 'lost',
      key: 'k',
      cause: { name: 'Error', message: 'middle', cause: '[Circular]' },
    });
    const odd = new TimeoutError(1, 'odd', {
      cause: { status: 503, big: 7n, body: { huge: true } },
    });
    expect(odd.toJSON().cause).to.deep.equal({ status: 503, big: '7', body: '[Object]' });
  });

  it('a plain Error in the chain gives name, message and code only (no context fields)', () => {
    const plain = Object.assign(new Error('boom'), { code: 'E1', secret: 'not logged' });
    expect(new TimeoutError(1, 't', { cause: plain }).toJSON().cause).to.deep.equal({
      name: 'Error',
      message: 'boom',
      code: 'E1',
    });
  });
});

describe('errors with pino', () => {
  /** A pino logger writing JSON lines into `lines`, with the README's err serializer. */
  function logger(lines: string[]) {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    return pino(
      {
        serializers: {
          err: (e: unknown) =>
            isConcurrencyError(e)
              ? { ...pino.stdSerializers.err(e), ...e.toJSON() }
              : pino.stdSerializers.err(e as Error),
        },
      },
      destination,
    );
  }

  it("logs our error whole: typed context, exact fence, structured cause, pino's stack", () => {
    const lines: string[] = [];
    const err = new LockLostError('orders', 'lock "orders" was lost', {
      fence: 2n ** 60n + 1n,
      cause: new BackendUnavailableError('redis', 'redis is unavailable', { cause: reset() }),
    });
    logger(lines).error({ err }, 'lease ended');
    expect(lines).to.have.length(1);
    const entry = JSON.parse(lines[0]) as { msg: string; err: Record<string, unknown> };
    expect(entry.msg).to.equal('lease ended');
    expect(entry.err).to.include({
      type: 'LockLostError',
      name: 'LockLostError',
      code: 'ERR_RXC_LOCK_LOST',
      key: 'orders',
      fence: '1152921504606846977',
      message: 'lock "orders" was lost',
    });
    expect(entry.err.stack).to.be.a('string').and.contain('LockLostError');
    expect(entry.err.cause).to.deep.equal({
      name: 'BackendUnavailableError',
      code: 'ERR_RXC_BACKEND_UNAVAILABLE',
      message: 'redis is unavailable',
      backend: 'redis',
      cause: { name: 'Error', message: 'socket reset', code: 'ECONNRESET' },
    });
  });

  it('leaves other errors to pino’s own serializer', () => {
    const lines: string[] = [];
    logger(lines).error({ err: reset() }, 'plain');
    const entry = JSON.parse(lines[0]) as { err: Record<string, unknown> };
    expect(entry.err).to.include({ type: 'Error', message: 'socket reset', code: 'ECONNRESET' });
  });

  it('the base class serialises too (user subclasses get their fields written)', () => {
    class QuotaError extends ConcurrencyError {
      constructor(readonly tenant: string) {
        super('ERR_APP_QUOTA', `quota of ${tenant} used up`);
      }
    }
    expect(new QuotaError('acme').toJSON()).to.deep.equal({
      name: 'ConcurrencyError',
      code: 'ERR_APP_QUOTA',
      message: 'quota of acme used up',
      tenant: 'acme',
    });
  });
});
