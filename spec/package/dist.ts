/**
 * Shared by the package specs: the built dist/ (built by `npm test` before the specs run; rebuilt
 * here when missing or older than lib/), and a walk over an entry's transitive imports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dist = join(root, 'dist');

const outputs = [
  'esm/index.js',
  'cjs/index.cjs',
  'types/index.d.ts',
  'umd/rxjs-concurrency.min.js',
].map((file) => join(dist, file));

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) {
      newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}

/** Runs a clean `rollup -c` when a dist output is missing or lib/ changed since the build. */
export function ensureBuilt(): void {
  const missing = outputs.some((file) => !existsSync(file));
  const oldest = missing ? 0 : Math.min(...outputs.map((file) => statSync(file).mtimeMs));
  if (!missing && newestSource(join(root, 'lib')) <= oldest) return;
  console.log(`  building dist/ (${missing ? 'missing' : 'older than lib/'})…`);
  // Old chunks would linger (rollup never deletes outputs) and be packed with the rest.
  rmSync(dist, { recursive: true, force: true });
  const rollup = join(root, 'node_modules', 'rollup', 'dist', 'bin', 'rollup');
  const result = spawnSync(process.execPath, [rollup, '-c'], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(`npm run build failed:\n${result.stdout}\n${result.stderr}`);
}

const esmImport = /(?:^|[;}\s])(?:import|export)\s*(?:[\w*{}\s,$]*?\s*from\s*)?['"]([^'"]+)['"]/g;
const dynamicImport = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
const cjsRequire = /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;

export interface ImportGraph {
  /** Every local file reached, the entry first. */
  files: string[];
  /** Every bare (package or builtin) specifier imported by those files. */
  bare: Set<string>;
}

/** Declaration files import their chunks as `./x.js`, meaning `./x.d.ts`. */
function localFile(path: string): string {
  const declaration = path.replace(/\.js$/, '.d.ts');
  return !existsSync(path) && existsSync(declaration) ? declaration : path;
}

/** Follows relative imports (ESM `import`/`export … from`/`import()`, or CJS `require`). */
export function importGraph(entry: string): ImportGraph {
  const files: string[] = [];
  const bare = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.includes(file)) continue;
    files.push(file);
    // JSDoc examples in the output mention imports too; only code counts.
    const code = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const pattern of [esmImport, dynamicImport, cjsRequire]) {
      for (const [, specifier] of code.matchAll(pattern)) {
        if (specifier.startsWith('.')) pending.push(localFile(resolve(dirname(file), specifier)));
        else bare.add(specifier);
      }
    }
  }
  return { files, bare };
}

/** All files under `dir` ending with `suffix`. */
export function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name));
}
