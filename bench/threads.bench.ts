/**
 * Threads: CPU-bound work through `threadPool` (size 2) vs the same `map` on the main thread,
 * and `SharedChannel` vs one `postMessage` per value between the same two threads.
 */
import { Worker } from 'node:worker_threads';
import { lastValueFrom, map, range } from 'rxjs';
import { SharedChannel, threadPool } from 'rxjs-concurrency';
import { formatRate, median, ratio, scaled, table, writeSection } from './lib/harness.js';

/** ~1 ms of hashing per item (FNV-1a over `iterations` integers). */
function hashWork(iterations: number): number {
  // Start as an int32: starting from the double 2166136261 made V8 (Node 20) run this loop
  // about 4x slower after ~1000 calls in a worker, with or without the pool.
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < iterations; i++) {
    h ^= i & 0xff;
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

function iterationsPerMs(): number {
  hashWork(5_000_000); // warm up the JIT
  const start = performance.now();
  hashWork(20_000_000);
  return Math.round(20_000_000 / (performance.now() - start));
}

// Worker entries as data: URLs that load the built package, as the main thread does.
const threadsModule = import.meta.resolve('rxjs-concurrency');
const workerUrl = (body: string) =>
  new URL(
    `data:text/javascript,${encodeURIComponent(
      `const threads = await import(${JSON.stringify(threadsModule)});
${body}`,
    )}`,
  );

/**
 * Median rates of `baseline` and `ours`, measured alternately (after one warm-up each), so that
 * load from other processes on this shared machine hits both sides alike.
 */
async function paired(
  ops: { baseline: number; ours: number },
  baseline: () => Promise<unknown>,
  ours: () => Promise<unknown>,
  rounds = 5,
): Promise<{ baseline: number; ours: number }> {
  await baseline();
  await ours();
  const rates = { baseline: [] as number[], ours: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    for (const side of ['baseline', 'ours'] as const) {
      globalThis.gc?.();
      const start = performance.now();
      await (side === 'baseline' ? baseline() : ours());
      rates[side].push(ops[side] / ((performance.now() - start) / 1000));
    }
  }
  return { baseline: median(rates.baseline), ours: median(rates.ours) };
}

const rows: string[][] = [];

// 1. CPU-bound map: main thread vs a pool of 2 worker threads.
{
  const perMs = iterationsPerMs();
  const items = scaled(400);
  const work = range(0, items).pipe(map(() => perMs));
  const pool = threadPool<number, number>({
    script: workerUrl(`const hashWork = ${hashWork.toString()};
threads.exposeWorker(hashWork);`),
    size: 2,
  });
  const drain = (source: ReturnType<typeof range>) =>
    lastValueFrom(source, { defaultValue: undefined });
  const rates = await paired(
    { baseline: items, ours: items },
    () => drain(work.pipe(map(hashWork))),
    () => drain(work.pipe(pool.map())),
  );
  const [mainRate, poolRate] = [rates.baseline, rates.ours];
  await pool.close();
  rows.push(['~1 ms hash per item: `map` on the main thread', formatRate(mainRate), '1.00x']);
  rows.push([
    '~1 ms hash per item: `threadPool({size: 2}).map()`',
    formatRate(poolRate),
    ratio(poolRate, mainRate),
  ]);
}

// 2. Moving numbers from a worker to the main thread.
{
  const producer = new Worker(
    workerUrl(`const { parentPort } = await import('node:worker_threads');
parentPort.on('message', ({ kind, count, buffer }) => {
  if (kind === 'channel') {
    const channel = threads.SharedChannel.attach(buffer);
    for (let i = 0; i < count; i++) channel.put(i);
    channel.close();
  } else {
    for (let i = 0; i < count; i++) parentPort.postMessage(i);
  }
});
parentPort.postMessage('ready');`),
  );
  await new Promise((resolve) => producer.once('message', resolve));

  const channelCount = scaled(2_000_000);
  const viaChannel = (capacity: number) => async () => {
    const channel = SharedChannel.create({ capacity, type: 'int32' });
    let sum = 0;
    const done = new Promise<void>((resolve, reject) =>
      channel.values$().subscribe({ next: (v) => (sum += v), error: reject, complete: resolve }),
    );
    producer.postMessage({ kind: 'channel', count: channelCount, buffer: channel.buffer });
    await done;
    if (sum !== ((channelCount - 1) * channelCount) / 2) throw new Error('values lost');
  };

  const messageCount = scaled(200_000);
  const viaMessages = () =>
    new Promise<void>((resolve) => {
      let received = 0;
      const onMessage = () => {
        if (++received === messageCount) {
          producer.off('message', onMessage);
          resolve();
        }
      };
      producer.on('message', onMessage);
      producer.postMessage({ kind: 'post', count: messageCount });
    });
  const counts = { baseline: messageCount, ours: channelCount };
  const small = await paired(counts, viaMessages, viaChannel(1024));
  const large = await paired(counts, viaMessages, viaChannel(65_536));
  await producer.terminate();
  const messageRate = median([small.baseline, large.baseline]);
  rows.push(['worker → main: one `postMessage` per value', formatRate(messageRate), '1.00x']);
  for (const [capacity, rate] of [
    ['1024', small.ours],
    ['65,536', large.ours],
  ] as const) {
    rows.push([
      `worker → main: \`SharedChannel\` (capacity ${capacity}, \`put\` / \`values$()\`)`,
      formatRate(rate),
      ratio(rate, messageRate),
    ]);
  }
}

writeSection(
  'threads',
  `## Threads and shared memory

Items (or values) per second, median of 5 runs alternating with the baseline, 2 threads. Ratios are against the first row of
each pair: the pool against the main thread, SharedChannel against postMessage.

${table(['case', 'items/s', 'ratio'], rows)}`,
);
