// Demo page bundles (owned by the demo kit), imported by rollup.config.mjs.
// Every demos/<area>/main.ts becomes demos/dist/<area>.js and every demos/<area>/<name>.worker.ts
// becomes demos/dist/<area>/<name>.worker.js: browser ESM with rxjs and the library bundled in,
// one build with shared chunks (demos/dist/chunks/) so all pages compile in one TypeScript pass.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import typescript from '@rollup/plugin-typescript';

const demosDir = dirname(fileURLToPath(import.meta.url));

/** Entry name → source file, relative to the project root. */
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
    Object.entries(entries).map(([name, file]) => [name, relative(process.cwd(), file)]),
  );
}

const input = demoEntries();

export const demoBuilds =
  Object.keys(input).length === 0
    ? []
    : [
        {
          input,
          plugins: [
            nodeResolve({ browser: true, exportConditions: ['browser'] }),
            typescript({
              tsconfig: join(demosDir, 'tsconfig.build.json'),
              outputToFilesystem: false,
            }),
          ],
          output: {
            dir: join(demosDir, 'dist'),
            format: 'es',
            entryFileNames: '[name].js',
            chunkFileNames: 'chunks/[name]-[hash].js',
            sourcemap: true,
          },
          onwarn(warning, warn) {
            // rxjs ships `this` at module level in some helpers; harmless in ESM.
            if (warning.code === 'THIS_IS_UNDEFINED') return;
            warn(warning);
          },
        },
      ];

export default demoBuilds;
