// Process exit (issue 12, item 10 for Redis): a process that acquired under contention,
// unsubscribed and released everything and quit only its own ioredis clients exits by itself
// within 10 s, without RedisLocks.close() ("Unsubscribing releases everything it took").
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startRedis, type RedisServer } from '../support/servers.js';

const FIXTURE = fileURLToPath(
  new URL('../fixtures/lock/exit-after-contention.ts', import.meta.url),
);
const EXIT_WITHIN_MS = 10_000;

/** Runs the fixture; resolves with the ms between its "done" line and its exit. */
function runFixture(urls: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', FIXTURE], {
      env: { ...process.env, REDIS_URLS: urls.join(',') },
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

    it('exits by itself within 10 s once everything is released and its clients quit', async () => {
      const exitMs = await runFixture(servers.map((s) => s.url));
      expect(exitMs).to.be.lessThan(EXIT_WITHIN_MS);
    });
  });
}
