/**
 * Clock drift: a RedisElection leader whose scheduler runs 1 % slow, 1 % fast or fires timers
 * 2 ms early is cut off from Redis (a black-holing proxy) while a contender with a true clock
 * waits. The leader must report `isLeader: false` before the contender is elected: never two
 * leaders at once. Both run in this process, so the order of their emissions is the order of
 * the moments they believed they led.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Subscription } from 'rxjs';
import { RedisElection } from '../../lib/redis/index.js';
import { eventually } from '../election/conformance.js';
import { startProxy } from '../election/proxy.js';
import { DRIFTS, type DriftConfig } from '../support/driftScheduler.js';
import { driftScheduler } from '../support/driftScheduler.js';
import { sharedRedis } from '../support/servers.js';

const TTL_MS = 1000;
const TRIALS = 3;
const prefix = `rxc-drift-election-${process.pid}:`;

interface Event {
  who: 'a' | 'b';
  isLeader: boolean;
  at: number;
}

let counter = 0;

/** One trial: returns the leader's loss and the contender's win, in wall-clock ms. */
async function trial(redis: Redis, drift: DriftConfig) {
  const name = `drift-${++counter}`;
  const key = `${prefix}${name}`;
  const proxy = await startProxy(Number(new URL((await sharedRedis()).url).port));
  const cutOff = new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  cutOff.on('error', () => undefined);
  const events: Event[] = [];
  const subscriptions: Subscription[] = [];
  const follow = (who: 'a' | 'b', election: RedisElection) =>
    subscriptions.push(
      election
        .campaign(name, who)
        .subscribe((c) => events.push({ who, isLeader: c.isLeader, at: Date.now() })),
    );
  const has = (who: 'a' | 'b', isLeader: boolean) =>
    events.find((e) => e.who === who && e.isLeader === isLeader);
  try {
    const options = { prefix, ttlMs: TTL_MS, scheduler: driftScheduler(drift) };
    follow('a', new RedisElection(cutOff, options));
    await eventually('a leads', () => has('a', true));
    follow('b', new RedisElection(redis, { prefix, ttlMs: TTL_MS }));
    await eventually('b waits', () => has('b', false));
    // Validity must come from a renewal, not only from the win: wait until one landed.
    const first = await redis.pexpiretime(key);
    await eventually('a renewed', async () => (await redis.pexpiretime(key)) > first);
    proxy.blackhole();
    await eventually('b leads', () => has('b', true), 10_000);
    const lost = has('a', false);
    expect(lost, 'the cut-off leader reported its loss').to.not.equal(undefined);
    return { lostAt: lost!.at, wonAt: has('b', true)!.at, events };
  } finally {
    for (const s of subscriptions) s.unsubscribe();
    cutOff.disconnect();
    await proxy.close();
  }
}

describe('RedisElection under clock drift (real Redis)', function () {
  this.timeout(60_000);
  let redis: Redis;
  before(async () => {
    redis = new Redis((await sharedRedis()).url);
  });
  after(() => redis.disconnect());

  for (const { name, config } of DRIFTS) {
    it(`the leader with ${name} reports its loss before the contender is elected (${TRIALS} trials)`, async () => {
      const margins: number[] = [];
      for (let i = 0; i < TRIALS; i++) {
        const { lostAt, wonAt, events } = await trial(redis, config);
        expect(lostAt, JSON.stringify(events)).to.be.at.most(wonAt);
        const aLeads = events.filter((e) => e.who === 'a' && e.isLeader).at(-1)!;
        const bLeads = events.find((e) => e.who === 'b' && e.isLeader)!;
        expect(events.indexOf(aLeads)).to.be.below(events.indexOf(bLeads));
        // a's loss must come before b's win in emission order too (same ms is possible).
        const aLost = events.findIndex((e) => e.who === 'a' && !e.isLeader);
        expect(aLost, JSON.stringify(events)).to.be.below(events.indexOf(bLeads));
        margins.push(wonAt - lostAt);
      }
      console.log(
        `      [${name}] loss reported ${margins.join(', ')} ms before the contender won`,
      );
    });
  }
});
