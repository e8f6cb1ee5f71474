import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { sharedRedis } from '../support/servers.js';
import { marbleLabels, useDemoBrowser, waitForMarbles, withPage } from './support.js';

const leaderCards = (page: Page) => page.locator('.node[data-state="leader"]');
const termOf = async (page: Page, id: string) =>
  BigInt(
    (await page.locator(`.node[data-node="${id}"] dd`).first().textContent())!.replace('–', '0'),
  );

/** The id of the one node card shown as leader (waits until there is exactly one). */
async function theLeader(page: Page, timeout = 15_000): Promise<string> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if ((await leaderCards(page).count()) === 1)
      return (await leaderCards(page).getAttribute('data-node'))!;
    if (Date.now() > deadline) throw new Error('no single leader shown');
    await page.waitForTimeout(50);
  }
}

describe('election demo page (Chromium)', function () {
  this.timeout(60_000);
  useDemoBrowser();

  it('loads without errors, highlights one leader whose work alone ticks, and logs it', () =>
    withPage('/election/', async (page) => {
      const leader = await theLeader(page);
      await waitForMarbles(page, { lane: 'leader', atLeast: 1 });
      await waitForMarbles(page, { lane: `work ${leader}`, atLeast: 3 });
      for (const other of ['n1', 'n2', 'n3', 'n4'].filter((id) => id !== leader)) {
        const ticks = await page
          .locator(`.mark[data-lane="work ${other}"][data-kind="next"]`)
          .count();
        expect(ticks, `work ticks of follower ${other}`).to.equal(0);
      }
      expect(
        await page.locator('.event-log li', { hasText: `leader → ${leader}` }).count(),
      ).to.be.at.least(1);
    }));

  it('hands over to another node with a higher term when the leader is killed', () =>
    withPage(
      '/election/',
      async (page) => {
        const first = await theLeader(page);
        const firstTerm = await termOf(page, first);
        await page.locator(`.node[data-node="${first}"] button`, { hasText: 'kill' }).click();
        await page.locator(`.node[data-node="${first}"][data-state="dead"]`).waitFor();
        const second = await theLeader(page);
        expect(second).to.not.equal(first);
        expect((await termOf(page, second)) > firstTerm).to.equal(true);
        await waitForMarbles(page, { lane: `work ${second}`, atLeast: 2 });
        const labels = await marbleLabels(page, { lane: 'leader' });
        expect(labels.at(-1)).to.equal(`${second}:${await termOf(page, second)}`.slice(0, 4));
      },
      { name: 'election-kill' },
    ));

  it("supervises the leader's work: a fault restarts it, a third within 10 s makes it resign", () =>
    withPage(
      '/election/',
      async (page) => {
        const leader = await theLeader(page);
        const card = page.locator(`.node[data-node="${leader}"]`);
        const ticks = async () => Number(await card.locator('dd').nth(1).textContent());
        const ticksAbove = (n: number) =>
          page.waitForFunction(
            ({ id, n }) =>
              Number(document.querySelectorAll(`.node[data-node="${id}"] dd`)[1]?.textContent) > n,
            { id: leader, n },
            { timeout: 15_000 },
          );
        const failures = page.locator('.event-log li', { hasText: `${leader}'s work failed` });
        for (let restart = 1; restart <= 2; restart++) {
          await ticksAbove(0);
          await card.locator('button[data-action="fault"]').click();
          await waitForMarbles(page, { lane: `work ${leader}`, kind: 'error', atLeast: 1 });
          await page.waitForFunction(
            ({ text, count }) =>
              [...document.querySelectorAll('.event-log li')].filter((li) =>
                li.textContent?.includes(text),
              ).length >= count,
            { text: `${leader}'s work failed`, count: restart },
            { timeout: 15_000 },
          );
          // supervise resubscribes after its backoff: the same leader ticks on.
          await ticksAbove(await ticks());
          expect(await card.getAttribute('data-state')).to.equal('leader');
        }
        expect(await failures.count()).to.equal(2);
        await card.locator('button[data-action="fault"]').click();
        await page.locator(`.node[data-node="${leader}"][data-state="dead"]`).waitFor();
        await page.locator('.event-log li', { hasText: `${leader} resigned` }).waitFor();
        expect(await theLeader(page)).to.not.equal(leader);
      },
      { name: 'election-supervise' },
    ));

  it('runs real candidate processes on Redis through the demo server', async function () {
    this.timeout(90_000);
    process.env.REDIS_URL = (await sharedRedis()).url; // read lazily by demos/election/server.ts
    try {
      await withPage(
        '/election/',
        async (page) => {
          await page.locator('label.control-select select').selectOption('redis');
          const first = await theLeader(page, 45_000);
          await page.locator(`.node[data-node="${first}"] button`, { hasText: 'kill' }).click();
          await page.locator(`.node[data-node="${first}"][data-state="dead"]`).waitFor();
          const second = await theLeader(page, 20_000);
          expect(second).to.not.equal(first);
          await waitForMarbles(page, { lane: `work ${second}`, atLeast: 1 });
        },
        { name: 'election-redis' },
      );
    } finally {
      delete process.env.REDIS_URL;
    }
  });
});
