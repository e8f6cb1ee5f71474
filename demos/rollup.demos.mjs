// Demo page bundles (owned by the demo kit), imported by rollup.config.mjs.
// Every demos/<area>/main.ts becomes demos/dist/<area>.js and every demos/<area>/<name>.worker.ts
// becomes demos/dist/<area>/<name>.worker.js: browser ESM with rxjs and the library bundled in,
// one build with shared chunks (demos/dist/chunks/). TypeScript is only transpiled here (esbuild,
// fast); `npm run typecheck` type-checks demos/ with everything else.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { cwd } from 'node:process';
import { fileURLToPath } from 'node:url';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { transform } from 'esbuild';

const demosDir = dirname(fileURLToPath(import.meta.url));
const distDir = join(demosDir, 'dist');

/** Entry name → source file, relative to the working directory. */
function demoEntries() {
  const entries = {};
  for (const area of readdirSync(demosDir, { withFileTypes: true })) {
    if (!area.isDirectory() || ['dist', 'kit', 'node_modules'].includes(area.name)) continue;
    const dir = join(demosDir, area.name);
    if (existsSync(join(dir, 'main.ts'))) entries[area.name] = join(dir, 'main.ts');
    for (const file of readdirSync(dir)) {
      const worker = /^(.+)\.worker\.ts$/.exec(file);
      if (worker) entries[`${area.name}/${worker[1]}.worker`] = join(dir, file);
    }
  }
  return Object.fromEntries(
    Object.entries(entries).map(([name, file]) => [name, relative(cwd(), file)]),
  );
}

/** Sources import each other as `./x.js` (NodeNext); resolve those to `./x.ts` and transpile. */
function typescriptSources() {
  return {
    name: 'typescript-sources',
    resolveId(source, importer) {
      if (!importer || !/\.[cm]?ts$/.test(importer) || !/^\.\.?\//.test(source)) return null;
      const candidate = resolve(dirname(importer), source.replace(/\.([cm]?)js$/, '.$1ts'));
      return candidate !== resolve(dirname(importer), source) && existsSync(candidate)
        ? candidate
        : null;
    },
    async transform(code, id) {
      if (!/\.[cm]?ts$/.test(id)) return null;
      const result = await transform(code, {
        loader: 'ts',
        format: 'esm',
        target: 'es2022',
        sourcefile: id,
        sourcemap: true,
        tsconfigRaw: { compilerOptions: { useDefineForClassFields: true } },
      });
      return { code: result.code, map: result.map };
    },
  };
}

/** Removes outputs of earlier builds (old chunk hashes, deleted pages) after writing. */
function pruneStaleOutputs() {
  return {
    name: 'prune-stale-demo-outputs',
    writeBundle(options, bundle) {
      const keep = new Set(Object.keys(bundle).map((file) => join(options.dir, file)));
      for (const entry of readdirSync(options.dir, { withFileTypes: true, recursive: true })) {
        const file = join(entry.parentPath, entry.name);
        if (entry.isFile() && !keep.has(file)) rmSync(file);
      }
    },
  };
}

const input = demoEntries();

export const demoBuilds =
  Object.keys(input).length === 0
    ? []
    : [
        {
          input,
          plugins: [
            typescriptSources(),
            nodeResolve({ browser: true, exportConditions: ['browser'] }),
            pruneStaleOutputs(),
          ],
          output: {
            dir: distDir,
            format: 'es',
            entryFileNames: '[name].js',
            chunkFileNames: 'chunks/[name]-[hash].js',
            sourcemap: true,
          },
        },
      ];

export default demoBuilds;
