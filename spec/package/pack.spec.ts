/**
 * `npm pack` → install the tarball into an empty project (offline) → every entry resolves in
 * ESM and CJS, and the project's TypeScript typechecks a consumer of all four entries under
 * NodeNext resolution.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, root } from './dist.js';

const entries = [
  'rxjs-concurrency',
  'rxjs-concurrency/redis',
  'rxjs-concurrency/etcd',
  'rxjs-concurrency/testing',
];
const packagesDir = join(root, 'node_modules');

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** Links a package from our node_modules into the app (as a user who installed it would have). */
function linkPackage(app: string, name: string): void {
  const target = join(app, 'node_modules', name);
  if (existsSync(target)) return;
  mkdirSync(join(target, '..'), { recursive: true });
  symlinkSync(join(packagesDir, name), target, 'dir');
}

interface EntryReport {
  keys: string[];
  resolved: string;
}

const esmCheck = `
import * as core from 'rxjs-concurrency';
import * as redis from 'rxjs-concurrency/redis';
import * as etcd from 'rxjs-concurrency/etcd';
import * as testing from 'rxjs-concurrency/testing';
const modules = { 'rxjs-concurrency': core, 'rxjs-concurrency/redis': redis, 'rxjs-concurrency/etcd': etcd, 'rxjs-concurrency/testing': testing };
const report = {};
for (const [name, module] of Object.entries(modules)) {
  report[name] = { keys: Object.keys(module).sort(), resolved: import.meta.resolve(name) };
}
const shared = Object.entries(modules).flatMap(([name, module]) =>
  Object.keys(module).filter((key) => key in core && module[key] !== core[key]).map((key) => name + '.' + key));
console.log(JSON.stringify({ report, notIdentical: shared }));
`;

const cjsCheck = `
const names = ${JSON.stringify(entries)};
const core = require('rxjs-concurrency');
const report = {};
const notIdentical = [];
for (const name of names) {
  const module = require(name);
  report[name] = { keys: Object.keys(module).filter((k) => k !== '__esModule').sort(), resolved: require.resolve(name) };
  for (const key of Object.keys(module)) if (key in core && key !== '__esModule' && module[key] !== core[key]) notIdentical.push(name + '.' + key);
}
console.log(JSON.stringify({ report, notIdentical }));
`;

const tsConsumer = `
import { of } from 'rxjs';
import { ConcurrencyError, isConcurrencyError, isTransient, TimeoutError } from 'rxjs-concurrency';
import * as redis from 'rxjs-concurrency/redis';
import * as etcd from 'rxjs-concurrency/etcd';
import { createTestScheduler, marbles } from 'rxjs-concurrency/testing';

const error: ConcurrencyError = new ConcurrencyError('E_APP', 'an application error');
export const code: string = error.code;
export const transient: boolean = isTransient(error) && isConcurrencyError(error);
export const timeout: ConcurrencyError = {} as TimeoutError;
createTestScheduler().run(({ expectObservable }) => expectObservable(of(1)).toBe('(a|)', { a: 1 }));
export const spec: () => void = marbles(({ cold, expectObservable }) => expectObservable(cold('a|')).toBe('a|'));
export const backends: object[] = [redis, etcd];
`;

describe('npm pack → install into an empty project', function () {
  this.timeout(180_000);
  let work: string;
  let app: string;
  let installedWith: string;
  let packedFiles: string[];

  before(function () {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'rxc-pack-'));
    app = join(work, 'app');
    mkdirSync(app);
    const [packed] = JSON.parse(
      run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root),
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packedFiles = packed.files.map((file) => file.path);

    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    const tarball = join(work, packed.filename);
    try {
      // Offline from the npm cache (filled by `npm ci`): the tarball, uuid, and the rxjs peer.
      run(
        'npm',
        ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball],
        app,
      );
      installedWith = 'npm install --offline';
    } catch {
      // The cache lacks a packument: unpack the tarball by hand, link its dependencies.
      const target = join(app, 'node_modules', 'rxjs-concurrency');
      mkdirSync(target, { recursive: true });
      run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], app);
      installedWith = 'tar + linked dependencies (npm cache incomplete)';
    }
    console.log(`      installed with ${installedWith}`);
    // Optional peers (and the types a TypeScript user of ioredis has) from our node_modules.
    for (const name of ['rxjs', 'uuid', 'ioredis', 'etcd3', '@types/node']) linkPackage(app, name);
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs dist, package.json and the README, and no sources', () => {
    for (const required of [
      'package.json',
      'dist/esm/index.js',
      'dist/cjs/index.cjs',
      'dist/types/index.d.ts',
      'dist/umd/rxjs-concurrency.min.js',
      'dist/esm/redis/index.js',
      'dist/cjs/etcd/index.cjs',
      'dist/types/testing/index.d.ts',
    ]) {
      expect(packedFiles, required).to.include(required);
    }
    if (existsSync(join(root, 'README.md'))) expect(packedFiles).to.include('README.md');
    const extra = packedFiles.filter(
      (file) =>
        !file.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(file),
    );
    expect(extra).to.deep.equal([]);
    expect(
      existsSync(join(app, 'node_modules', 'rxjs-concurrency', 'dist', 'esm', 'index.js')),
    ).to.equal(true);
  });

  function check(script: string, file: string, distDir: string): Record<string, EntryReport> {
    writeFileSync(join(app, file), script);
    const { report, notIdentical } = JSON.parse(run(process.execPath, [file], app)) as {
      report: Record<string, EntryReport>;
      notIdentical: string[];
    };
    for (const name of entries) {
      const resolved = report[name].resolved.replace(/^file:\/\//, '');
      expect(resolved, name).to.contain(
        join(app, 'node_modules', 'rxjs-concurrency', 'dist', distDir),
      );
    }
    expect(report['rxjs-concurrency'].keys).to.include.members(['ConcurrencyError', 'isTransient']);
    expect(report['rxjs-concurrency/testing'].keys).to.include.members([
      'createTestScheduler',
      'marbles',
    ]);
    // A name exported by two entries is one and the same object (shared chunks).
    expect(notIdentical).to.deep.equal([]);
    return report;
  }

  it('import … from every entry resolves (ESM) and require(…) of every entry resolves (CJS), with the same exports', () => {
    const esm = check(esmCheck, 'check.mjs', 'esm');
    const cjs = check(cjsCheck, 'check.cjs', 'cjs');
    for (const name of entries) expect(cjs[name].keys, name).to.deep.equal(esm[name].keys);
  });

  it("the project's TypeScript typechecks a consumer of all four entries (NodeNext)", () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
        },
        files: ['index.ts'],
      }),
    );
    writeFileSync(join(app, 'index.ts'), tsConsumer);
    run(
      process.execPath,
      [join(packagesDir, 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
      app,
    );
  });
});
