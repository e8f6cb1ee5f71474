import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { useDemoBrowser, waitForMarbles, withPage } from './support.js';

/** The page's test hooks (demos/threads/main.ts). */
type Hooks = Window['threadsDemo'];

const hooks = <R>(page: Page, fn: (demo: Hooks) => Promise<R> | R): Promise<R> =>
  page.evaluate<R>(`(${fn.toString()})(window.threadsDemo)`);

describe('threads demo page (Chromium, Web Workers, SharedArrayBuffer)', function () {
  this.timeout(60_000);
  useDemoBrowser();

  it('loads without errors and shows live marbles: pool lanes, channel meter, map changes', () =>
    withPage('/threads/', async (page) => {
      expect(await page.evaluate(() => crossOriginIsolated)).to.equal(true);
      await waitForMarbles(page, { lane: 'output', atLeast: 4 });
      // At least two worker lanes drew marbles: the items really ran on different workers.
      await page.waitForFunction(
        () =>
          new Set(
            [...document.querySelectorAll('.mark[data-kind="next"]')]
              .map((m) => m.getAttribute('data-lane') ?? '')
              .filter((lane) => lane.startsWith('worker ')),
          ).size >= 2,
        undefined,
        { timeout: 15_000 },
      );
      await waitForMarbles(page, { lane: 'values / s', atLeast: 3 });
      await waitForMarbles(page, { lane: 'changes$', atLeast: 3 });
      const inOrder = page
        .locator('.stat', { hasText: 'in order, none lost' })
        .locator('.stat-value');
      expect(await inOrder.textContent()).to.equal('yes');
      const agree = page.locator('.stat', { hasText: 'both auditors' }).locator('.stat-value');
      expect(await agree.textContent()).to.equal('yes');
    }));

  it('runs threadPool on Web Workers: same results as a plain map, ordered keeps input order', () =>
    withPage(
      '/threads/',
      async (page) => {
        const expected = Array.from({ length: 30 }, (_, n) => n * n);
        const ordered = await hooks(page, (demo) => demo.squares(30, 3, true));
        expect(ordered).to.deep.equal(expected);
        const unordered = await hooks(page, (demo) => demo.squares(30, 3, false));
        expect([...unordered].sort((a, b) => a - b)).to.deep.equal(expected);
      },
      { name: 'threads-pool' },
    ));

  it('carries 200,000 values from a worker to the page through a SharedChannel, in order', () =>
    withPage(
      '/threads/',
      async (page) => {
        const tally = await hooks(page, (demo) => demo.channel(200_000));
        expect(tally).to.deep.equal({ received: 200_000, inOrder: true });
      },
      { name: 'threads-channel' },
    ));

  it('a crashed Web Worker errors its item with WorkerCrashedError and is replaced', () =>
    withPage(
      '/threads/',
      async (page) => {
        const first = await hooks(page, (demo) => demo.crash());
        expect(first).to.match(/^WorkerCrashedError: .*crashed on purpose/);
        const second = await hooks(page, (demo) => demo.crash()); // a fresh worker crashes too
        expect(second).to.match(/^WorkerCrashedError/);
        expect(await hooks(page, (demo) => demo.squares(4, 1, true))).to.deep.equal([0, 1, 4, 9]);
        // The pool handled the worker's uncaught error (preventDefault): nothing on the console.
      },
      { name: 'threads-crash' },
    ));

  it('ReactiveMap: the restocker refills inside its callback; auditors agree on one order', () =>
    withPage(
      '/threads/',
      async (page) => {
        for (let i = 0; i < 12; i++) await page.getByRole('button', { name: 'buy apple' }).click();
        const { a, b } = await hooks(page, (demo) => demo.audits());
        expect(a.length).to.be.at.least(12);
        expect(b).to.deep.equal(a);
        a.forEach((version, i) => expect(version).to.equal(i + 1));
        const apples = page.locator('.stat', { hasText: 'apples' }).locator('.stat-value');
        expect(Number(await apples.textContent())).to.be.within(1, 5); // never left empty
      },
      { name: 'threads-map' },
    ));
});
