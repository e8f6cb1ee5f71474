/**
 * Fan-out throughput: the RxJS baseline (map, mergeMap), then `fanOut` against its peers on the
 * same inputs in the same process: unordered vs `mergeMap(f, 8)`, ordered vs rxjs-etc's
 * `concatMapEager(f, 8)` and vs unordered `mergeMap(f, 8)`.
 */
import {
  concatMap,
  from,
  groupBy,
  lastValueFrom,
  map,
  merge,
  mergeMap,
  of,
  range,
  type Observable,
} from 'rxjs';
// The ESM build, so it shares our rxjs instance (its `operators` entry loads the CJS build).
import { concatMapEager } from 'rxjs-etc/dist/esm/operators/concatMapEager.js';
import { fanIn, fanOut, fanOutByKey } from 'rxjs-concurrency';
import { formatRate, ratio, scaled, table, throughput, writeSection } from './lib/harness.js';

const syncItems = scaled(200_000);
const promiseItems = scaled(50_000);
const k = (n: number) => `${Math.round(n / 1000)}k`;

const drain = (source: Observable<unknown>) => lastValueFrom(source, { defaultValue: undefined });
const square = (x: number) => of(x * x);
const squareLater = (x: number) => Promise.resolve(x * x);
const squareLaterFrom = (x: number) => from(Promise.resolve(x * x));

const rate = (items: number, source: () => Observable<unknown>) =>
  throughput(items, () => drain(source()), { runs: 5, warmup: 2 });

// Baseline rows: what RxJS alone does on this machine.
const mapRate = await rate(syncItems, () => range(0, syncItems).pipe(map((x) => x * x)));
const mergeSync = await rate(syncItems, () => range(0, syncItems).pipe(mergeMap(square, 8)));
const mergePromise = await rate(promiseItems, () =>
  range(0, promiseItems).pipe(mergeMap(squareLaterFrom, 8)),
);
const baseline = [
  ['`map` alone (sync)', formatRate(mapRate)],
  ['`mergeMap(f, 8)`, sync `of(x*x)` inners', formatRate(mergeSync)],
  ['`mergeMap(f, 8)`, promise inners', formatRate(mergePromise)],
];

// fanOut against its peers.
const comparisons: string[][] = [];
async function compare(
  label: string,
  items: number,
  ours: () => Observable<unknown>,
  peer: string,
  theirs: () => Observable<unknown>,
): Promise<void> {
  const oursRate = await rate(items, ours);
  const theirsRate = await rate(items, theirs);
  comparisons.push([
    label,
    formatRate(oursRate),
    peer,
    formatRate(theirsRate),
    ratio(oursRate, theirsRate),
  ]);
}

const syncSource = () => range(0, syncItems);
const promiseSource = () => range(0, promiseItems);

await compare(
  `unordered, ${k(syncItems)} sync \`of(x*x)\` inners`,
  syncItems,
  () => syncSource().pipe(fanOut(square, 8)),
  '`mergeMap(f, 8)`',
  () => syncSource().pipe(mergeMap(square, 8)),
);
await compare(
  `unordered, ${k(promiseItems)} promise inners`,
  promiseItems,
  () => promiseSource().pipe(fanOut(squareLater, 8)),
  '`mergeMap(f, 8)`',
  () => promiseSource().pipe(mergeMap(squareLater, 8)),
);
await compare(
  `ordered, ${k(syncItems)} sync \`of(x*x)\` inners`,
  syncItems,
  () => syncSource().pipe(fanOut(square, { concurrency: 8, ordered: true })),
  'rxjs-etc `concatMapEager(f, 8)`',
  () => syncSource().pipe(concatMapEager(square, 8)),
);
await compare(
  `ordered, ${k(promiseItems)} promise inners`,
  promiseItems,
  () => promiseSource().pipe(fanOut(squareLater, { concurrency: 8, ordered: true })),
  'rxjs-etc `concatMapEager(f, 8)`',
  () => promiseSource().pipe(concatMapEager(squareLater, 8)),
);
await compare(
  `ordered, ${k(syncItems)} sync \`of(x*x)\` inners`,
  syncItems,
  () => syncSource().pipe(fanOut(square, { concurrency: 8, ordered: true })),
  'unordered `mergeMap(f, 8)`',
  () => syncSource().pipe(mergeMap(square, 8)),
);
await compare(
  `ordered, ${k(promiseItems)} promise inners`,
  promiseItems,
  () => promiseSource().pipe(fanOut(squareLater, { concurrency: 8, ordered: true })),
  'unordered `mergeMap(f, 8)`',
  () => promiseSource().pipe(mergeMap(squareLater, 8)),
);
await compare(
  `\`fanOutByKey\`, 100 keys, ${k(syncItems)} sync \`of(x*x)\` inners`,
  syncItems,
  () => syncSource().pipe(fanOutByKey((x: number) => x % 100, square, 8)),
  '`groupBy` + `mergeMap(g => g.pipe(concatMap(f)))` (no bound across keys)',
  () =>
    syncSource().pipe(
      groupBy((x) => x % 100),
      mergeMap((group) => group.pipe(concatMap(square))),
    ),
);

const sources = 8;
const fanInItems = scaled(1_000_000);
const ranges = () =>
  Array.from({ length: sources }, () => range(0, Math.ceil(fanInItems / sources)));
await compare(
  `\`fanIn\` of ${sources} sync ranges, ${k(fanInItems)} values`,
  fanInItems,
  () => fanIn(...ranges()),
  '`merge`',
  () => merge(...ranges()),
);

writeSection(
  'fanout',
  [
    '## Fan-out / fan-in',
    '',
    'Items per second, median of 5 runs after 2 warm-up runs, all in one process.',
    '',
    table(['case', 'items/s'], baseline),
    '',
    'ratio = fanOut ÷ peer (above 1.00x: fanOut is faster). Both sides get the same `work`; promise inners are `Promise.resolve(x*x)` returned as is.',
    '',
    table(['case', 'fanOut', 'peer', 'peer items/s', 'ratio'], comparisons),
  ].join('\n'),
);
