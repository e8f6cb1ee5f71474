/**
 * Benchmark helpers. Each `bench/<area>.bench.ts` measures our code and its peers in the same
 * process and run, then writes `bench/results/<area>.md`; `bench/run.ts` runs every suite in
 * its own process and joins the sections into `bench/RESULTS.md`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** Scales iteration counts down for a quick smoke run (`BENCH_SCALE=0.1`). */
export const scale = Number(process.env.BENCH_SCALE ?? '1');
export const scaled = (n: number): number => Math.max(1, Math.round(n * scale));

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Median throughput (operations per second) of `runs` timed runs of `run`, after one warm-up
 * run. `run` performs `ops` operations and resolves when they are done.
 */
export async function throughput(
  ops: number,
  run: () => unknown,
  { runs = 3, warmup = 1 } = {},
): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) {
    globalThis.gc?.();
    const start = performance.now();
    await run();
    rates.push(ops / ((performance.now() - start) / 1000));
  }
  return median(rates);
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return String(perSecond);
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond.toFixed(perSecond >= 100 ? 0 : 1);
}

export const ratio = (ours: number, theirs: number): string => `${(ours / theirs).toFixed(2)}x`;

/** A markdown table from a header row and rows of cells. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Writes this suite's section; `bench/run.ts` joins the sections into RESULTS.md. */
export function writeSection(area: string, markdown: string): void {
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${area}.md`), markdown.trimEnd() + '\n');
  console.log(markdown);
}

/**
 * Runs `fn` with this process and `pids` pinned to CPU 0 (Linux `taskset`), then lets them use
 * every CPU again. On the 2-vCPU VMs we measure on, a loopback round trip between processes on
 * different cores waits for a cross-CPU wake-up (about 80 µs), on one core it does not (about
 * 15 µs), and the scheduler moves processes between the two every few seconds: pinned, every case
 * of a request/response loop is measured alike and repeatably. Without taskset it runs unpinned.
 */
export async function onOneCore<T>(
  pids: number[],
  fn: () => Promise<T>,
): Promise<{ result: T; pinned: boolean }> {
  const pin = (cpus: string) =>
    [process.pid, ...pids].every(
      (pid) => spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)]).status === 0,
    );
  const pinned = pin('0');
  try {
    return { result: await fn(), pinned };
  } finally {
    if (pinned) pin(`0-${availableParallelism() - 1}`);
  }
}
