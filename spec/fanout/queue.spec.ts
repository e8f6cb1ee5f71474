/** The FIFO behind fanOut's waiting values: order kept across compaction, O(1) shift. */
import { expect } from 'chai';
import fc from 'fast-check';
import { Queue } from '../../lib/fanout/internal/Queue.js';

describe('fanout Queue', () => {
  it('behaves like an array used as a FIFO under any mix of push, shift and clear', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant('shift' as const), fc.constant('clear' as const), fc.nat()), {
          maxLength: 3000,
        }),
        (ops) => {
          const queue = new Queue<number>();
          const model: number[] = [];
          for (const op of ops) {
            if (op === 'clear') {
              queue.clear();
              model.length = 0;
            } else if (op === 'shift') {
              if (model.length > 0) expect(queue.shift()).to.equal(model.shift());
            } else {
              queue.push(op);
              model.push(op);
            }
            expect(queue.length).to.equal(model.length);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('drains a 200,000-value backlog while refilling, in order', () => {
    const queue = new Queue<number>();
    let next = 0;
    let expected = 0;
    for (let i = 0; i < 100_000; i++) queue.push(next++);
    while (queue.length > 0) {
      expect(queue.shift()).to.equal(expected++);
      if (next < 200_000) queue.push(next++);
    }
    expect(expected).to.equal(200_000);
  });
});
