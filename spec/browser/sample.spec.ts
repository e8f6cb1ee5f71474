import { expect } from 'chai';
import {
  demoServer,
  marbleLabels,
  openPage,
  useDemoBrowser,
  waitForMarbles,
  withPage,
} from './support.js';

describe('sample demo page (Chromium)', function () {
  this.timeout(60_000);
  useDemoBrowser();

  it('loads without errors and draws live marbles in every pipeline lane', () =>
    withPage('/sample/', async (page) => {
      const ticks = await waitForMarbles(page, { lane: 'interval', atLeast: 6 });
      expect(ticks).to.be.at.least(6);
      await waitForMarbles(page, { lane: 'map(n × 10)', atLeast: 6 });
      await waitForMarbles(page, { lane: 'filter', atLeast: 3 });
      await waitForMarbles(page, { lane: 'take(6)', atLeast: 3 });
      // Every filtered value is a multiple of 20, as drawn in its marble.
      const filtered = await marbleLabels(page, { lane: 'filter' });
      expect(filtered.length).to.be.at.least(3);
      for (const text of filtered) expect(Number(text) % 20).to.equal(0);
    }));

  it('completes take(6), unsubscribes the stages above it, and repeats', () =>
    withPage(
      '/sample/',
      async (page) => {
        // Slider to its fastest so one cycle (12 ticks) takes ~2 s.
        await page.locator('.control-slider input').fill('150');
        await waitForMarbles(page, { lane: 'take(6)', kind: 'complete', atLeast: 1 });
        await waitForMarbles(page, { lane: 'interval', kind: 'unsubscribe', atLeast: 1 });
        // After the repeat delay the pipeline runs again.
        await waitForMarbles(page, { lane: 'take(6)', kind: 'complete', atLeast: 2 });
      },
      { name: 'sample-complete' },
    ));

  it('draws errors as X and keeps the retried output free of them', () =>
    withPage(
      '/sample/',
      async (page) => {
        await waitForMarbles(page, { lane: 'map (throws at 3)', kind: 'error', atLeast: 1 });
        expect(await marbleLabels(page, { lane: 'map (throws at 3)' })).not.to.include('3');
        await waitForMarbles(page, { lane: 'after retry', atLeast: 4 });
        const retried = page.locator('.mark[data-lane="after retry"][data-kind="error"]');
        expect(await retried.count()).to.equal(0);
        // The lane element keeps totals, also of marks that scrolled away.
        const errors = await page
          .locator('.lane-marks[data-lane="map (throws at 3)"]')
          .getAttribute('data-error');
        expect(Number(errors)).to.be.at.least(1);
      },
      { name: 'sample-errors' },
    ));

  it('shows values streamed from the demo server over SSE', () =>
    withPage(
      '/sample/',
      async (page) => {
        const count = await waitForMarbles(page, { lane: 'server ticks', atLeast: 3 });
        expect(count).to.be.at.least(3);
        const labels = await marbleLabels(page, { lane: 'server ticks' });
        expect(labels.slice(0, 3)).to.deep.equal(['0', '1', '2']);
      },
      { name: 'sample-sse' },
    ));

  it('closing the page closes the EventSource, which unsubscribes the server Observable', async () => {
    const opened = await openPage('/sample/', { name: 'sample-sse-close' });
    await waitForMarbles(opened.page, { lane: 'server ticks', atLeast: 1 });
    expect(demoServer().openStreams).to.be.at.least(1);
    await opened.close();
    for (let i = 0; i < 100 && demoServer().openStreams > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(demoServer().openStreams).to.equal(0);
  });

  it('calls a server action', () =>
    withPage(
      '/sample/',
      async (page) => {
        await page.getByRole('button', { name: 'call /api/sample/echo' }).click();
        await page.locator('.event-log li').first().waitFor();
        expect(await page.locator('.event-log li').first().textContent()).to.contain('echo');
      },
      { name: 'sample-echo' },
    ));

  it('is cross-origin isolated (COOP/COEP headers; SharedArrayBuffer available)', () =>
    withPage(
      '/sample/',
      async (page) => {
        const response = await page.request.get(page.url());
        const headers = response.headers();
        expect(headers['cross-origin-opener-policy']).to.equal('same-origin');
        expect(headers['cross-origin-embedder-policy']).to.equal('require-corp');
        expect(await page.evaluate(() => crossOriginIsolated)).to.equal(true);
        expect(await page.evaluate(() => typeof SharedArrayBuffer)).to.equal('function');
      },
      { name: 'sample-isolation' },
    ));
});
