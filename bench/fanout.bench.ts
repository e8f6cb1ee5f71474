/** Fan-out throughput: the RxJS baseline (map, mergeMap) that fanOut is measured against. */
import { from, lastValueFrom, map, mergeMap, of, range } from 'rxjs';
import { formatRate, scaled, table, throughput, writeSection } from './lib/harness.js';

const syncItems = scaled(200_000);
const promiseItems = scaled(50_000);

const drain = (source: ReturnType<typeof range>) =>
  lastValueFrom(source, { defaultValue: undefined });

const rows: string[][] = [];
rows.push([
  '`map` alone (sync)',
  formatRate(await throughput(syncItems, () => drain(range(0, syncItems).pipe(map((x) => x * x))))),
]);
rows.push([
  '`mergeMap(f, 8)`, sync `of(x*x)` inners',
  formatRate(
    await throughput(syncItems, () =>
      drain(range(0, syncItems).pipe(mergeMap((x) => of(x * x), 8))),
    ),
  ),
]);
rows.push([
  '`mergeMap(f, 8)`, promise inners',
  formatRate(
    await throughput(promiseItems, () =>
      drain(range(0, promiseItems).pipe(mergeMap((x) => from(Promise.resolve(x * x)), 8))),
    ),
  ),
]);

writeSection(
  'fanout',
  `## Fan-out / fan-in\n\nItems per second, median of 3 runs.\n\n${table(['case', 'items/s'], rows)}`,
);
