/**
 * The thread pool from the built package: Node picks worker_threads at run time, from the ESM
 * and the CJS build alike, with worker scripts that import the package as users would.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lastValueFrom, range, toArray } from 'rxjs';
import { tempDir } from '../support/servers.js';
import { dist, ensureBuilt, root } from '../package/dist.js';
import type * as Package from '../../lib/index.js';

describe('threadPool from dist/ (Node ESM and CJS)', function () {
  this.timeout(180_000);
  before(ensureBuilt);

  const squares = (pkg: typeof Package, script: string | URL) => {
    const pool = pkg.threadPool<number, number>({ script, size: 2 });
    return lastValueFrom(range(0, 10).pipe(pool.map({ ordered: true }), toArray())).finally(() =>
      pool.close(),
    );
  };
  const expected = Array.from({ length: 10 }, (_, n) => n * n);

  it('ESM: import the package, spawn an ESM worker that imports it too', async () => {
    const esm = pathToFileURL(join(dist, 'esm', 'index.js')).href;
    const pkg = (await import(esm)) as typeof Package;
    const worker = `import { exposeWorker } from ${JSON.stringify(esm)};
exposeWorker((n) => n * n);`;
    const script = new URL(`data:text/javascript,${encodeURIComponent(worker)}`);
    expect(await squares(pkg, script)).to.deep.equal(expected);
  });

  it('CJS: require the package, spawn a CommonJS worker file (a path) that requires it', async () => {
    const cjs = join(dist, 'cjs', 'index.cjs');
    const pkg = createRequire(import.meta.url)(cjs) as typeof Package;
    const script = join(tempDir('threads'), 'square.worker.cjs');
    writeFileSync(
      script,
      `const { exposeWorker } = require(${JSON.stringify(cjs)});
exposeWorker(async (n) => n * n);`,
    );
    expect(await squares(pkg, script)).to.deep.equal(expected);
  });

  it('an idle pool that was never closed does not keep the Node process alive', () => {
    const esm = JSON.stringify(pathToFileURL(join(dist, 'esm', 'index.js')).href);
    const program = `import { threadPool } from ${esm};
import { lastValueFrom, of, toArray } from 'rxjs';
const worker = 'import { exposeWorker } from ' + JSON.stringify(${esm}) + '; exposeWorker((n) => n + 1);';
const pool = threadPool({ script: new URL('data:text/javascript,' + encodeURIComponent(worker)), size: 2 });
console.log(JSON.stringify(await lastValueFrom(of(1, 2, 3).pipe(pool.map({ ordered: true }), toArray()))));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', program], {
      cwd: root,
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(child.stderr).to.equal('');
    expect([child.status, child.stdout.trim()]).to.deep.equal([0, '[2,3,4]']);
  });
});
