import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { useDemoBrowser, waitForMarbles, withPage } from './support.js';

const setSlider = (page: Page, label: string, value: number) =>
  page.locator('label.control-slider', { hasText: label }).locator('input').fill(String(value));

const edgeCount = (page: Page, transition: string) =>
  page
    .locator(`[data-transition="${transition}"]`)
    .getAttribute('data-count')
    .then((n) => Number(n));

const waitForState = (page: Page, state: string, timeout = 15_000) =>
  page.locator(`[data-state-node="${state}"][data-current]`).waitFor({ timeout });

describe('circuit breaker demo page (Chromium)', function () {
  this.timeout(60_000);
  useDemoBrowser();

  it('loads without errors, starts closed and draws live call marbles', () =>
    withPage('/circuit-breaker/', async (page) => {
      await waitForState(page, 'closed', 5_000);
      await waitForMarbles(page, { lane: 'calls', atLeast: 5 });
      await waitForMarbles(page, { lane: 'passed', atLeast: 2 });
      await waitForMarbles(page, { lane: 'state', atLeast: 1 });
      expect(await page.locator('.stat', { hasText: 'state' }).textContent()).to.contain('closed');
    }));

  it('opens under failures, refuses calls, then recovers through half-open', () =>
    withPage(
      '/circuit-breaker/',
      async (page) => {
        await setSlider(page, 'openMs', 500);
        await setSlider(page, 'call every', 100);
        await setSlider(page, 'failure rate', 100);
        await waitForState(page, 'open');
        await waitForMarbles(page, { lane: 'failed', atLeast: 5 });
        await waitForMarbles(page, { lane: 'rejected', atLeast: 3 });
        expect(await edgeCount(page, 'closed→open')).to.be.at.least(1);
        await setSlider(page, 'failure rate', 0);
        await waitForState(page, 'closed');
        expect(await edgeCount(page, 'open→half-open')).to.be.at.least(1);
        expect(await edgeCount(page, 'half-open→closed')).to.be.at.least(1);
        // state lane: closed, open, …, half-open, closed
        expect(await page.locator('.mark[data-lane="state"]').count()).to.be.at.least(4);
      },
      { name: 'circuit-breaker-recovery' },
    ));

  it('with fallback on, failures and refusals are replaced by fallback values', () =>
    withPage(
      '/circuit-breaker/',
      async (page) => {
        await page
          .locator('label.control-toggle', { hasText: 'fallback' })
          .locator('input')
          .check();
        await setSlider(page, 'call every', 100);
        await setSlider(page, 'failure rate', 100);
        await waitForMarbles(page, { lane: 'rejected', atLeast: 2 });
        await waitForMarbles(page, { lane: 'fallback', atLeast: 5 });
      },
      { name: 'circuit-breaker-fallback' },
    ));

  it('retryBackoff retries failed calls through the breaker', () =>
    withPage(
      '/circuit-breaker/',
      async (page) => {
        await page
          .locator('label.control-toggle', { hasText: 'retryBackoff' })
          .locator('input')
          .check();
        await setSlider(page, 'failure rate', 40);
        await waitForMarbles(page, { lane: 'retry', atLeast: 2 });
      },
      { name: 'circuit-breaker-retry' },
    ));

  it('isolate holds the circuit open', () =>
    withPage(
      '/circuit-breaker/',
      async (page) => {
        await setSlider(page, 'failure rate', 0);
        await page.getByRole('button', { name: 'isolate' }).click();
        await waitForState(page, 'open', 2_000);
        await waitForMarbles(page, { lane: 'rejected', atLeast: 2 });
        await waitForState(page, 'closed', 6_000);
      },
      { name: 'circuit-breaker-isolate' },
    ));
});
