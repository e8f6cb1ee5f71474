// Process exit (issue 12, item 10 for Redis): a process that acquired under contention,
// unsubscribed and released everything and quit only its own ioredis clients exits by itself
// within 10 s, without RedisLocks.close() ("Unsubscribing releases everything it took").
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startRedis, type RedisServer } from '../support/servers.js';

/** What each fixture does before it quits its clients (see the files). */
const FIXTURES = {
  'acquire, a waiter handed the lock, a lock$ hold': 'exit-after-contention.ts',
  'two lock$ on one key, an aborted and a timed-out waiter, a second client waiting':
    'exit-lock-contention.ts',
};
const fixturePath = (file: string) =>
  fileURLToPath(new URL(`../fixtures/lock/${file}`, import.meta.url));
const EXIT_WITHIN_MS = 10_000;
/**
 * Longer than the bound: a deadline timer still armed after the last call (it lingered until
 * commandTimeoutMs past it) would hold the child past 10 s.
 */
const COMMAND_TIMEOUT_MS = 30_000;

/** Runs the fixture; resolves with the ms between its "done" line and its exit. */
function runFixture(file: string, urls: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', fixturePath(file)], {
      env: {
        ...process.env,
        REDIS_URLS: urls.join(','),
        COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let doneAt: number | undefined;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('done')) doneAt = Date.now();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      const state =
        doneAt === undefined ? 'never printed "done"' : `${Date.now() - doneAt} ms after "done"`;
      reject(new Error(`fixture still running: ${state}; stderr: ${stderr}`));
    }, EXIT_WITHIN_MS + 10_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      if (code !== 0 || doneAt === undefined) {
        reject(new Error(`fixture exited ${code} before "done": ${stderr}`));
      } else resolve(Date.now() - doneAt);
    });
  });
}

for (const mode of ['single', 'quorum'] as const) {
  describe(`RedisLocks (${mode}): process exit without close()`, function () {
    this.timeout(40_000);
    let servers: RedisServer[] = [];
    before(async () => {
      servers = await Promise.all((mode === 'single' ? [1] : [1, 2, 3]).map(() => startRedis()));
    });
    after(async () => {
      await Promise.all(servers.map((s) => s.stop()));
    });

    for (const [what, file] of Object.entries(FIXTURES)) {
      it(`exits by itself within 10 s once everything is released and its clients quit (${what})`, async () => {
        const exitMs = await runFixture(
          file,
          servers.map((s) => s.url),
        );
        console.log(`      ${mode}, ${file}: exited ${exitMs} ms after "done"`);
        expect(exitMs).to.be.lessThan(EXIT_WITHIN_MS);
      });
    }
  });
}
