import { expect } from 'chai';
import { marbleLabels, useDemoBrowser, waitForMarbles, withPage } from './support.js';

describe('fan-out / fan-in demo page (Chromium)', function () {
  this.timeout(60_000);
  useDemoBrowser();

  it('loads without errors and draws the source, one lane per worker and the merged output', () =>
    withPage('/fanout/', async (page) => {
      await waitForMarbles(page, { lane: 'source', atLeast: 4 });
      await waitForMarbles(page, { lane: 'worker 1', atLeast: 1 });
      await waitForMarbles(page, { lane: 'fanOut output', atLeast: 3 });
      // Three workers by default: no fourth lane, and never more than three in flight.
      expect(await page.locator('.lane-marks[data-lane="worker 3"]').count()).to.equal(1);
      expect(await page.locator('.lane-marks[data-lane="worker 4"]').count()).to.equal(0);
      const peak = await page
        .locator('.stat', { hasText: 'peak in flight' })
        .locator('.stat-value')
        .textContent();
      expect(Number(peak)).to.be.within(1, 3);
      // Every output marble is the square of a job.
      for (const label of await marbleLabels(page, { lane: 'fanOut output' })) {
        expect(Number.isInteger(Math.sqrt(Number(label)))).to.equal(true);
      }
    }));

  it('ordered: the output comes in input order while workers still overlap', () =>
    withPage(
      '/fanout/',
      async (page) => {
        await page.getByRole('slider', { name: 'N', exact: true }).fill('8');
        await page.getByRole('checkbox', { name: 'ordered' }).check();
        await waitForMarbles(page, { lane: 'fanOut output', atLeast: 6, timeoutMs: 20_000 });
        const labels = (await marbleLabels(page, { lane: 'fanOut output' })).map(Number);
        expect(labels.slice(0, 6)).to.deep.equal([1, 4, 9, 16, 25, 36]);
        await page
          .locator('.event-log li', { hasText: 'finished' })
          .first()
          .waitFor({ timeout: 20_000 });
        const finished = await page
          .locator('.event-log li', { hasText: 'finished' })
          .first()
          .textContent();
        expect(finished).to.match(/peak [23] in flight \(limit 3\)/);
      },
      { name: 'fanout-ordered' },
    ));

  it('one worker: only one worker lane', () =>
    withPage(
      '/fanout/',
      async (page) => {
        await page.getByRole('slider', { name: 'workers (concurrency)' }).fill('1');
        await waitForMarbles(page, { lane: 'worker 1', atLeast: 2, timeoutMs: 20_000 });
        expect(await page.locator('.lane-marks[data-lane="worker 2"]').count()).to.equal(0);
      },
      { name: 'fanout-one-worker' },
    ));

  it("throttled: a full queue with overflow 'error' fails with BufferOverflowError", () =>
    withPage(
      '/fanout/',
      async (page) => {
        await page.getByRole('combobox', { name: /^scenario/ }).selectOption('throttled: 100 jobs');
        await page.getByRole('combobox', { name: /^overflow/ }).selectOption('error');
        await page.getByRole('slider', { name: 'maxBuffered' }).fill('0');
        await page
          .locator('.event-log li', { hasText: 'BufferOverflowError' })
          .first()
          .waitFor({ timeout: 20_000 });
        await waitForMarbles(page, { lane: 'fanOut output', kind: 'error', atLeast: 1 });
      },
      { name: 'fanout-throttled' },
    ));
});
