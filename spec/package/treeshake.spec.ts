/**
 * Tree-shaking with esbuild (what Vite and most bundlers use): importing one primitive or one
 * type guard keeps no error class it does not use. A module-level read of the classes' static
 * codes (as `isTransient`'s table once did) would keep them all.
 */
import { expect } from 'chai';
import { build } from 'esbuild';
import { join } from 'node:path';
import { dist, ensureBuilt } from './dist.js';

/** The minified ESM bundle of `import { <names> } from 'rxjs-concurrency'`, rxjs external. */
async function bundleOf(names: string[]): Promise<string> {
  const entry = join(dist, 'esm', 'index.js');
  const result = await build({
    stdin: {
      contents: `import { ${names.join(', ')} } from ${JSON.stringify(entry)};\nconsole.log(${names.join(', ')});`,
      resolveDir: dist,
      loader: 'js',
    },
    bundle: true,
    minify: true,
    format: 'esm',
    write: false,
    external: ['rxjs', 'rxjs/*', 'uuid'],
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

const codesIn = (code: string) => [...new Set(code.match(/ERR_RXC_[A-Z_]+/g) ?? [])].sort();

describe('tree-shaking with esbuild', function () {
  this.timeout(120_000);
  before(ensureBuilt);

  it('a limiter alone bundles no error class', async () => {
    expect(codesIn(await bundleOf(['SlidingWindowLimiter']))).to.deep.equal([]);
  });

  it('one type guard keeps its own class only', async () => {
    expect(codesIn(await bundleOf(['isLockLostError']))).to.deep.equal(['ERR_RXC_LOCK_LOST']);
  });

  it('isTransient keeps its codes and the base class, but no error subclass', async () => {
    const code = await bundleOf(['isTransient']);
    expect(code).to.contain('ERR_RXC_TIMEOUT');
    // ConcurrencyError (isConcurrencyError's instanceof) is the one class that extends Error.
    expect(code.match(/class\b[^{]*\bextends\b/g)).to.have.length(1);
    expect(code).not.to.match(/static code/);
  });
});
