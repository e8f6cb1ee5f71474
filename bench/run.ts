/**
 * `npm run bench`: runs every bench/<area>.bench.ts (or those named as arguments) in its own
 * Node process, one after another so they do not compete for the two cores, then writes
 * bench/RESULTS.md from the sections they produced.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resultsDir } from './lib/harness.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const suites = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();

let failed = 0;
for (const suite of suites) {
  console.log(`\n=== bench: ${suite} ===`);
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '--import=tsx', join(benchDir, `${suite}.bench.ts`)],
    {
      stdio: 'inherit',
      env: process.env,
    },
  );
  if (result.status !== 0) {
    failed++;
    console.error(`bench ${suite} failed with status ${result.status}`);
  }
}

const all = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();
const sections = all
  .map((name) => join(resultsDir, `${name}.md`))
  .filter((file) => existsSync(file))
  .map((file) => readFileSync(file, 'utf8').trimEnd());

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const header = `# Benchmark results

Written by \`npm run bench\`. Every table compares rxjs-concurrency with its peers measured in
the same process and run, as ratios; absolute figures vary with the machine. rxjs-concurrency
is measured as published (the built \`dist/\` that \`npm install\` gives), like its peers. Last run:
${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpu}.
`;
writeFileSync(join(benchDir, 'RESULTS.md'), [header, ...sections].join('\n\n') + '\n');
console.log(`\nwrote bench/RESULTS.md (${sections.length} sections)`);
process.exit(failed ? 1 : 0);
