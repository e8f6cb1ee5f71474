import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { sharedRedis } from '../support/servers.js';
import { marbleLabels, useDemoBrowser, waitForMarbles, withPage } from './support.js';

/** The one client card shown as holding the lock (waits until there is one). */
async function theHolder(page: Page, timeout = 15_000): Promise<string> {
  const holding = page.locator('.client[data-state="holding"]');
  const deadline = Date.now() + timeout;
  for (;;) {
    if ((await holding.count()) === 1) return (await holding.getAttribute('data-client'))!;
    if (Date.now() > deadline) throw new Error('no single holder shown');
    await page.waitForTimeout(20);
  }
}

const fences = (labels: string[]) => labels.map((l) => Number(l.replace(/^.*#/, '')));

describe('lock demo page (Chromium)', function () {
  this.timeout(60_000);
  useDemoBrowser();

  it('loads without errors and shows fenced writes with increasing fences', () =>
    withPage('/lock/', async (page) => {
      await waitForMarbles(page, { lane: 'store', atLeast: 6 });
      const holders = await marbleLabels(page, { lane: 'client c1' });
      expect(holders.length + (await marbleLabels(page, { lane: 'client c2' })).length).to.be.above(
        0,
      );
      const written = fences(await marbleLabels(page, { lane: 'store' }));
      for (let i = 1; i < written.length; i++) expect(written[i]).to.be.at.least(written[i - 1]);
    }));

  it('rejects the stale writes of a holder paused past its TTL, and hands over on kill', () =>
    withPage(
      '/lock/',
      async (page) => {
        const paused = await theHolder(page);
        await page.locator(`.client[data-client="${paused}"] button[data-action="pause"]`).click();
        // the TTL (2 s) lapses without keepalive: someone else holds it, with a higher fence
        const next = await theHolder(page, 10_000);
        expect(next).to.not.equal(paused);
        await page.locator(`.client[data-client="${paused}"] button[data-action="pause"]`).click();
        await waitForMarbles(page, { lane: 'store', kind: 'error', atLeast: 1 });
        expect(
          await page
            .locator('.event-log li', { hasText: `rejected ${paused}'s stale write` })
            .count(),
        ).to.be.at.least(1);

        const victim = await theHolder(page);
        await page.locator(`.client[data-client="${victim}"] button[data-action="kill"]`).click();
        await page.locator(`.client[data-client="${victim}"][data-state="dead"]`).waitFor();
        const after = await theHolder(page, 10_000);
        expect(after).to.not.equal(victim);
      },
      { name: 'lock-pause-kill' },
    ));

  it('runs the clients on real Redis through the demo server', async function () {
    this.timeout(60_000);
    process.env.REDIS_URL = (await sharedRedis()).url; // read lazily by demos/lock/server.ts
    try {
      await withPage(
        '/lock/',
        async (page) => {
          await page.locator('label.control-select select').selectOption('redis');
          await waitForMarbles(page, { lane: 'store', atLeast: 3 });
          await theHolder(page);
        },
        { name: 'lock-redis' },
      );
    } finally {
      delete process.env.REDIS_URL;
    }
  });
});
