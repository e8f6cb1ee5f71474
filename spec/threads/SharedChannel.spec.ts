import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { SharedChannel } from '../../lib/threads/index.js';
import { tsWorker } from './tsWorker.js';

const roundsScript = tsWorker(new URL('../fixtures/workers/channel-rounds.ts', import.meta.url));
const producerScript = tsWorker(
  new URL('../fixtures/workers/channel-producer.ts', import.meta.url),
);

describe('SharedChannel', () => {
  it('validates its options', () => {
    expect(() => SharedChannel.create({ capacity: 0, type: 'int32' })).to.throw(
      RangeError,
      'capacity must be an integer >= 1 and <= 1073741824, got 0',
    );
    expect(() => SharedChannel.create({ capacity: 4, type: 'int8' as 'int32' })).to.throw(
      RangeError,
      /type must be one of 'int32', 'float64', got "int8"/,
    );
    expect(() =>
      SharedChannel.create({ capacity: 4, type: 'int32', capcity: 8 } as never),
    ).to.throw(TypeError, 'SharedChannel config has an unknown option "capcity"');
    expect(() =>
      SharedChannel.attach(new ArrayBuffer(64) as unknown as SharedArrayBuffer),
    ).to.throw(TypeError);
  });

  it('offer returns false when full, true again once the consumer read', async () => {
    const channel = SharedChannel.create({ capacity: 3, type: 'int32' });
    expect([1, 2, 3, 4].map((v) => channel.offer(v))).to.deep.equal([true, true, true, false]);
    expect(channel.length).to.equal(3);
    expect(await firstValueFrom(channel.values$())).to.equal(1);
    expect(channel.length).to.equal(2);
    expect(channel.offer(4)).to.equal(true);
    expect(channel.offer(5)).to.equal(false);
  });

  it('close() lets the consumer drain, then completes; offer after close throws', async () => {
    const channel = SharedChannel.create({ capacity: 8, type: 'float64' });
    channel.offer(1.5);
    channel.offer(-2.25);
    channel.close();
    expect(() => channel.offer(3)).to.throw(/closed/);
    expect(await lastValueFrom(channel.values$().pipe(toArray()))).to.deep.equal([1.5, -2.25]);
  });

  it('wakes a waiting consumer (Atomics.waitAsync) when values arrive later', async () => {
    const channel = SharedChannel.create({ capacity: 4, type: 'int32' });
    const result = lastValueFrom(channel.values$().pipe(toArray()));
    await new Promise((r) => setTimeout(r, 10));
    // Wrap around the ring twice with the consumer asleep in between.
    for (let i = 0; i < 10; i++) {
      while (!channel.offer(i)) await new Promise((r) => setTimeout(r, 1));
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    channel.close();
    expect(await result).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('allows one consumer at a time; values not read stay for the next one', async () => {
    const channel = SharedChannel.create({ capacity: 8, type: 'int32' });
    for (const v of [1, 2, 3, 4]) channel.offer(v);
    const first = channel.values$().subscribe();
    let error: unknown;
    channel.values$().subscribe({ error: (e: unknown) => (error = e) });
    expect(String(error)).to.match(/already has a consumer/);
    first.unsubscribe();
    channel.offer(5);
    expect(await firstValueFrom(channel.values$().pipe(take(1)))).to.equal(5);

    const other = SharedChannel.create({ capacity: 8, type: 'int32' });
    for (const v of [1, 2, 3, 4]) other.offer(v);
    expect(await firstValueFrom(other.values$().pipe(take(2), toArray()))).to.deep.equal([1, 2]);
    other.close();
    expect(await lastValueFrom(other.values$().pipe(toArray()))).to.deep.equal([3, 4]);
  });

  it('put() blocks while full and gives up after timeoutMs', () => {
    const channel = SharedChannel.create({ capacity: 1, type: 'int32' });
    expect(channel.put(1, 0)).to.equal(true);
    expect(channel.put(2, 20)).to.equal(false); // nobody reads: times out
    expect(channel.length).to.equal(1);
  });

  it('attach() sees the same ring', () => {
    const channel = SharedChannel.create({ capacity: 16, type: 'float64' });
    const attached = SharedChannel.attach(channel.buffer);
    expect([attached.capacity, attached.type]).to.deep.equal([16, 'float64']);
    attached.offer(0.5);
    expect(channel.length).to.equal(1);
  });

  it('carries 1,000,000 values from a worker thread in order, none lost or duplicated', async function () {
    this.timeout(60_000);
    const count = 1_000_000;
    const channel = SharedChannel.create({ capacity: 1024, type: 'int32' });
    const worker = new Worker(producerScript, { workerData: { buffer: channel.buffer, count } });
    const exited = new Promise<number>((resolve, reject) => {
      worker.once('exit', resolve);
      worker.once('error', reject);
    });
    let expected = 0;
    let outOfOrder = -1;
    await new Promise<void>((resolve, reject) =>
      channel.values$().subscribe({
        next: (v) => {
          if (v !== expected && outOfOrder < 0) outOfOrder = expected;
          expected++;
        },
        error: reject,
        complete: resolve,
      }),
    );
    expect(outOfOrder).to.equal(-1);
    expect(expected).to.equal(count);
    expect(await exited).to.equal(0);
  });

  it('never misses the wake-up of a close() racing the consumer going to sleep', async function () {
    this.timeout(60_000);
    const worker = new Worker(roundsScript);
    try {
      for (let round = 0; round < 5_000; round++) {
        const channel = SharedChannel.create({ capacity: 4, type: 'int32' });
        const count = 1 + (round % 2); // 1 or 2 values, then close()
        const values = lastValueFrom(channel.values$().pipe(toArray()));
        worker.postMessage({ buffer: channel.buffer, count });
        const stuck = new Promise((_, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`round ${round} never completed`)),
            5_000,
          );
          void values.finally(() => clearTimeout(timer));
        });
        expect(await Promise.race([values, stuck])).to.deep.equal(count === 1 ? [0] : [0, 1]);
      }
    } finally {
      await worker.terminate();
    }
  });
});
