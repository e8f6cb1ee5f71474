import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { marbleLabels, useDemoBrowser, waitForMarbles, withPage } from './support.js';

const statValue = (page: Page, label: string) =>
  page
    .locator('.stat', { has: page.locator('.stat-label', { hasText: label }) })
    .locator('.stat-value')
    .textContent();

describe('backpressure demo page (Chromium)', function () {
  this.timeout(60_000);
  useDemoBrowser();

  it('rate-limits a bursty producer: admitted and queued marbles, never over the limit', () =>
    withPage('/backpressure/', async (page) => {
      await waitForMarbles(page, { lane: 'producer', atLeast: 7 });
      await waitForMarbles(page, { lane: 'admitted', atLeast: 4 });
      await waitForMarbles(page, { lane: 'queued', atLeast: 1 });
      // Queued values come out in order.
      const out = (await marbleLabels(page, { lane: 'admitted' })).map(Number);
      expect(out).to.deep.equal([...out].sort((a, b) => a - b));
      const busy = Number(await page.locator('#window').getAttribute('data-busy'));
      expect(busy).to.be.within(1, 4);
      const most = await statValue(page, 'most in any window');
      expect(most).to.match(/^[1-4] \/ 4$/);
    }));

  it("switches policy: 'drop' draws dropped marbles, 'error' an error, then resubscribes", () =>
    withPage(
      '/backpressure/',
      async (page) => {
        const policy = page.locator('#rate-controls select');
        await policy.selectOption('drop');
        await waitForMarbles(page, { lane: 'dropped', atLeast: 2 });
        await policy.selectOption('error');
        await waitForMarbles(page, { lane: 'admitted', kind: 'error', atLeast: 1 });
        expect(await page.locator('.event-log li').last().textContent()).to.contain(
          'RateLimitExceededError',
        );
      },
      { name: 'backpressure-policies' },
    ));

  it('AdaptiveLimiter: the limit climbs, then falls when the error rate goes up', () =>
    withPage(
      '/backpressure/',
      async (page) => {
        const limit = async () => Number(await statValue(page, 'limit'));
        await page.waitForFunction(() => {
          const value = document.querySelector('[data-testid="limit"] .stat-value');
          return Number(value?.textContent) >= 7;
        });
        const high = await limit();
        await page.locator('#adaptive-controls .control-slider input').first().fill('60');
        await page.waitForFunction(
          (from) => {
            const value = document.querySelector('[data-testid="limit"] .stat-value');
            return Number(value?.textContent) <= from / 2;
          },
          high,
          { timeout: 20_000 },
        );
        await waitForMarbles(page, { lane: 'limit$', atLeast: 5 });
        expect(await page.locator('#limit-line').getAttribute('points')).to.match(/\d+,\d+/);
      },
      { name: 'backpressure-adaptive' },
    ));

  it('GradientLimiter: switching limiters starts a fresh limit that climbs', () =>
    withPage(
      '/backpressure/',
      async (page) => {
        await page.locator('#adaptive-controls select').selectOption('gradient');
        await page.waitForFunction(() => {
          const value = document.querySelector('[data-testid="limit"] .stat-value');
          return Number(value?.textContent) >= 8;
        });
        // The AIMD limiter's limit$ was unsubscribed (dashed bar), the gradient one's is drawn.
        await waitForMarbles(page, { lane: 'limit$', kind: 'unsubscribe', atLeast: 1 });
        await waitForMarbles(page, { lane: 'limit$', atLeast: 3 });
      },
      { name: 'backpressure-gradient' },
    ));
});
