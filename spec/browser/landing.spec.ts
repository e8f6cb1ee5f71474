import { expect } from 'chai';
import { useDemoBrowser, withPage } from './support.js';

const patterns = [
  'fanout',
  'threads',
  'backpressure',
  'circuit-breaker',
  'lock',
  'election',
  'sample',
];

describe('demo landing page (Chromium)', function () {
  this.timeout(30_000);
  useDemoBrowser();

  it('links every pattern page with a description', () =>
    withPage(
      '/',
      async (page) => {
        for (const pattern of patterns) {
          const link = page.locator(`a[data-pattern="${pattern}"]`);
          expect(await link.getAttribute('href'), pattern).to.equal(`/${pattern}/`);
          expect((await link.locator('p').textContent())?.trim().length, pattern).to.be.above(20);
        }
      },
      { name: 'landing' },
    ));
});
