/**
 * The built package: the browser-safe core reaches no Node builtin, ioredis or etcd3; every error
 * class exists once (shared chunk); the UMD bundle is minified and loads with a global rxjs.
 */
import { expect } from 'chai';
import { readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createContext, runInContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { minify } from 'terser';
import { dist, ensureBuilt, filesUnder, importGraph, root } from './dist.js';

const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
const serverOnly = /^(node:|ioredis|etcd3)(\/|$)/;
const kB = (bytes: number) => `${(bytes / 1024).toFixed(1)} kB`;
const umdFile = join(dist, 'umd', 'rxjs-concurrency.min.js');
const formats = [
  ['esm', '.js'],
  ['cjs', '.cjs'],
  ['types', '.d.ts'],
] as const;

/** The files of dist/<dir> reached from the four entries (what users actually load). */
function reachable(dir: string, suffix: string): string[] {
  const files = new Set<string>();
  for (const entry of ['index', 'redis/index', 'etcd/index', 'testing/index']) {
    for (const file of importGraph(join(dist, dir, `${entry}${suffix}`)).files) files.add(file);
  }
  return [...files];
}

describe('package bundles', function () {
  this.timeout(180_000);
  before(ensureBuilt);

  for (const [format, entry] of [
    ['ESM', 'esm/index.js'],
    ['CJS', 'cjs/index.cjs'],
  ] as const) {
    it(`the ${format} core and every chunk it reaches import no node:, builtin, ioredis or etcd3`, () => {
      const graph = importGraph(join(dist, entry));
      expect(graph.files.length).to.be.at.least(1);
      const forbidden = [...graph.bare].filter(
        (s) => serverOnly.test(s) || builtins.has(s.split('/')[0]),
      );
      expect(forbidden, `imported by ${graph.files.join(', ')}`).to.deep.equal([]);
      for (const specifier of graph.bare) expect(specifier).to.match(/^(rxjs|uuid)(\/|$)/);
    });
  }

  it('dist holds only files reachable from the entries (no stale chunks in the tarball)', () => {
    for (const [dir, suffix] of formats) {
      const reached = new Set(reachable(dir, suffix));
      const stale = filesUnder(join(dist, dir), suffix).filter((file) => !reached.has(file));
      expect(stale, `dist/${dir}: clean dist/ before building`).to.deep.equal([]);
    }
  });

  for (const [dir, suffix] of formats) {
    it(`ConcurrencyError is defined exactly once in the dist/${dir} code the entries reach`, () => {
      const definitions = reachable(dir, suffix).filter((file) =>
        /\bclass ConcurrencyError\b/.test(readFileSync(file, 'utf8')),
      );
      expect(definitions).to.have.length(1);
      // ... in a chunk the core reaches, and every entry that uses an error class reaches it too.
      const [errorsChunk] = definitions;
      expect(importGraph(join(dist, dir, `index${suffix}`)).files).to.include(errorsChunk);
      for (const entry of ['redis', 'etcd', 'testing']) {
        const { files } = importGraph(join(dist, dir, entry, `index${suffix}`));
        const usesErrors = files.some((file) =>
          /\b(Concurrency|LockLost|LockTimeout|SessionExpired|NotLeader|BackendUnavailable|Aborted|Timeout)Error\b/.test(
            readFileSync(file, 'utf8'),
          ),
        );
        if (usesErrors) expect(files, `${dir}/${entry}`).to.include(errorsChunk);
      }
    });
  }

  it('the UMD bundle is minified and defines global rxjsConcurrency over a global rxjs', async () => {
    const code = readFileSync(umdFile, 'utf8');
    expect(code.split('\n').length, 'lines').to.be.below(10);
    expect(code).not.to.match(/\n {2}/);
    expect(code).to.contain('rxjsConcurrency');

    const context = createContext({
      console,
      setTimeout,
      clearTimeout,
      setInterval,
      clearInterval,
      queueMicrotask,
    });
    const rxjsUmd = join(root, 'node_modules', 'rxjs', 'dist', 'bundles', 'rxjs.umd.min.js');
    runInContext(readFileSync(rxjsUmd, 'utf8'), context);
    runInContext(code, context, { filename: umdFile });
    const umd = context.rxjsConcurrency as Record<string, unknown>;
    expect(umd, 'global rxjsConcurrency').to.be.an('object');
    const esm = (await import(pathToFileURL(join(dist, 'esm/index.js')).href)) as Record<
      string,
      unknown
    >;
    expect(Object.keys(umd).sort()).to.deep.equal(Object.keys(esm).sort());
    expect(umd.ConcurrencyError).to.be.a('function');
    // The UMD core runs on the global rxjs (no bundled copy): its errors are real Errors there.
    const ErrorClass = umd.ConcurrencyError as new (code: string, message: string) => Error;
    const err = new ErrorClass('E_UMD', 'from the UMD bundle');
    const isContextError = runInContext('(e) => e instanceof Error', context) as (
      e: unknown,
    ) => boolean;
    expect(isContextError(err)).to.equal(true);
    expect(err.name).to.equal('ConcurrencyError');
    expect(code).not.to.match(/class Observable\b|function Observable\(/);
  });

  it('reports the core size (ESM min+gzip)', async () => {
    const files = importGraph(join(dist, 'esm/index.js')).files;
    let raw = 0;
    let minified = '';
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      raw += source.length;
      const result = await minify(source, { module: true, compress: true, mangle: true });
      minified += result.code ?? '';
    }
    const gzip = gzipSync(minified, { level: 9 }).length;
    const umd = readFileSync(umdFile);
    const umdGzip = gzipSync(umd, { level: 9 }).length;
    console.log(
      `      core ESM: ${files.length} file(s), ${kB(raw)} raw, ${kB(minified.length)} min, ` +
        `${kB(gzip)} min+gzip; UMD: ${kB(statSync(umdFile).size)} min, ${kB(umdGzip)} min+gzip ` +
        `(rxjs external)`,
    );
    expect(gzip).to.be.above(0);
    expect(minified.length).to.be.below(raw);
  });
});
