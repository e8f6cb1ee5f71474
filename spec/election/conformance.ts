/**
 * The behaviour every ElectionBackend must show, run against memory, Redis, etcd (one member)
 * and etcd (three members) alike. Real time, real servers; every test uses its own election name.
 */
import { expect } from 'chai';
import { Observable, type Subscription } from 'rxjs';
import {
  whileLeader,
  type Candidacy,
  type ElectionBackend,
  type Leader,
} from '../../lib/election/index.js';

export interface ConformanceTarget {
  backend: ElectionBackend;
  /** TTL for campaigns (ms): short, so a stuck test shows quickly. */
  ttlMs: number;
  /** Keys, leases, watches or subscriptions this backend still holds for `name` (empty when clean). */
  residue(name: string): Promise<string[]>;
  close(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** One subscribed campaign and everything it emitted. */
export class Campaigner {
  readonly history: Candidacy[] = [];
  error: unknown;
  private readonly subscription: Subscription;

  constructor(
    backend: ElectionBackend,
    name: string,
    readonly candidate: string,
    ttlMs: number,
  ) {
    this.subscription = backend.campaign(name, candidate, { ttlMs }).subscribe({
      next: (c) => this.history.push(c),
      error: (e: unknown) => (this.error = e),
    });
  }

  get latest(): Candidacy | undefined {
    return this.history.at(-1);
  }

  get leads(): boolean {
    return !this.subscription.closed && this.latest?.isLeader === true;
  }

  get active(): boolean {
    return !this.subscription.closed;
  }

  resign(): void {
    this.subscription.unsubscribe();
  }
}

/** One subscribed observer and everything it emitted. */
export class Observer {
  readonly seen: (Leader | null)[] = [];
  private readonly subscription: Subscription;

  constructor(backend: ElectionBackend, name: string) {
    this.subscription = backend.observe(name).subscribe((l) => this.seen.push(l));
  }

  get latest(): Leader | null | undefined {
    return this.seen.at(-1);
  }

  stop(): void {
    this.subscription.unsubscribe();
  }
}

let counter = 0;
const freshName = () => `conf-${process.pid}-${Date.now().toString(36)}-${++counter}`;

export function electionConformance(label: string, open: () => Promise<ConformanceTarget>): void {
  describe(`ElectionBackend conformance: ${label}`, function () {
    this.timeout(30_000);
    let target: ConformanceTarget;
    let name: string;
    let campaigners: Campaigner[] = [];
    let observers: Observer[] = [];

    before(async function () {
      this.timeout(60_000);
      target = await open();
    });
    after(async () => target?.close());
    beforeEach(() => {
      name = freshName();
      campaigners = [];
      observers = [];
    });
    afterEach(async () => {
      for (const c of campaigners) c.resign();
      for (const o of observers) o.stop();
      await eventually('cleanup', async () => (await target.residue(name)).length === 0);
    });

    const join = (candidate: string) => {
      const c = new Campaigner(target.backend, name, candidate, target.ttlMs);
      campaigners.push(c);
      return c;
    };
    const watch = () => {
      const o = new Observer(target.backend, name);
      observers.push(o);
      return o;
    };
    const leaders = () => campaigners.filter((c) => c.leads);
    const settledLeader = async () => {
      const live = campaigners.filter((c) => c.active);
      return eventually('one leader', () => {
        const leading = leaders();
        return leading.length === 1 && live.every((c) => c.latest !== undefined) && leading[0];
      });
    };

    it('elects exactly one leader among 5 campaigners, and observe names it', async () => {
      const observer = watch();
      for (let i = 0; i < 5; i++) join(`node-${i}`);
      const leader = await settledLeader();
      await sleep(target.ttlMs / 4);
      expect(leaders()).to.have.length(1);
      const seen = await eventually('observed leader', () => observer.latest ?? undefined);
      expect(seen.value).to.equal(leader.candidate);
      expect(seen.term).to.equal(leader.latest!.term);
      expect(seen.id).to.equal(leader.latest!.id);
      for (const c of campaigners) expect(c.error).to.equal(undefined);
    });

    it('observe agrees across observers, and an observer started late sees the same leader', async () => {
      const early = [watch(), watch()];
      for (let i = 0; i < 3; i++) join(`node-${i}`);
      const leader = await settledLeader();
      const late = watch();
      for (const o of [...early, late]) {
        const seen = await eventually('observed', () => o.latest ?? undefined);
        expect(seen.value).to.equal(leader.candidate);
        expect(seen.term).to.equal(leader.latest!.term);
      }
      leader.resign();
      const next = await settledLeader();
      for (const o of [...early, late]) {
        await eventually('observers follow', () => o.latest?.value === next.candidate);
        expect(o.latest!.term).to.equal(next.latest!.term);
      }
    });

    it('hands over on resign, with a higher term', async () => {
      const first = join('first');
      await settledLeader();
      const second = join('second');
      await eventually('second joined', () => second.latest);
      expect(second.leads).to.equal(false);
      const firstTerm = first.latest!.term;
      first.resign();
      await eventually('second leads', () => second.leads);
      expect(second.latest!.term > firstTerm).to.equal(true);
    });

    it('observe emits null first on an empty election and when the last candidate leaves', async () => {
      const observer = watch();
      await eventually('first observation', () => observer.seen.length > 0);
      expect(observer.seen[0]).to.equal(null);
      const only = join('only');
      await eventually('leader observed', () => observer.latest?.value === 'only');
      only.resign();
      await eventually('null observed', () => observer.seen.length > 2 && observer.latest === null);
      expect(observer.seen.map((l) => l?.value ?? null)).to.deep.equal([null, 'only', null]);
    });

    it('terms strictly increase across leaders, for candidates and observers alike', async () => {
      const observer = watch();
      for (let i = 0; i < 5; i++) join(`node-${i}`);
      const terms: bigint[] = [];
      for (let round = 0; round < 5; round++) {
        const leader = await settledLeader();
        terms.push(leader.latest!.term);
        leader.resign();
        campaigners = campaigners.filter((c) => c !== leader);
      }
      for (let i = 1; i < terms.length; i++) expect(terms[i] > terms[i - 1]).to.equal(true);
      const observedTerms = observer.seen.filter((l) => l !== null).map((l) => l.term);
      for (let i = 1; i < observedTerms.length; i++)
        expect(observedTerms[i] > observedTerms[i - 1]).to.equal(true);
      expect(observedTerms).to.include.members(terms);
    });

    it('observers see every term, strictly increasing, of leaders that resign the moment they win', async () => {
      const observer = watch();
      await eventually('first observation', () => observer.seen.length > 0);
      const terms: bigint[] = [];
      for (let round = 0; round < 6; round++) {
        // Resigns inside the emission that says it leads: no time for an observer to read.
        const term = await new Promise<bigint>((resolve, reject) => {
          // A holder, not a const: a backend may emit during subscribe(), before it returns.
          const held: { subscription?: Subscription } = {};
          let won = false;
          held.subscription = target.backend
            .campaign(name, `brief-${round}`, { ttlMs: target.ttlMs })
            .subscribe({
              next: (c) => {
                if (!c.isLeader || won) return;
                won = true;
                held.subscription?.unsubscribe();
                resolve(c.term);
              },
              error: reject,
            });
          if (won) held.subscription.unsubscribe(); // a backend that emitted during subscribe()
        });
        terms.push(term);
      }
      for (let i = 1; i < terms.length; i++) expect(terms[i] > terms[i - 1]).to.equal(true);
      await eventually(
        'the last term observed, then no leader',
        () => observer.seen.some((l) => l?.term === terms.at(-1)) && observer.latest === null,
      );
      const observed = observer.seen.filter((l) => l !== null).map((l) => l.term);
      expect(observed, 'every term, in order, none missing').to.deep.equal(terms);
    });

    it('proclaim updates the value for observers; a follower gets NotLeaderError', async () => {
      const observer = watch();
      join('a');
      join('b');
      const leader = await settledLeader();
      const follower = campaigners.find((c) => c !== leader)!;
      await eventually('follower state', () => follower.latest);
      await leader.latest!.proclaim(`${leader.candidate}:busy`);
      await eventually(
        'proclaimed value',
        () => observer.latest?.value === `${leader.candidate}:busy`,
      );
      expect(observer.latest!.term).to.equal(leader.latest!.term);
      const refused = await follower.latest!.proclaim('usurper').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).to.have.property('code', 'ERR_RXC_NOT_LEADER');
    });

    it('whileLeader work runs only while leader (shared start/stop log)', async () => {
      const log: { event: 'start' | 'stop'; who: string; term: bigint }[] = [];
      const subscriptions: Subscription[] = [];
      for (let i = 0; i < 4; i++) {
        const who = `worker-${i}`;
        subscriptions.push(
          target.backend
            .campaign(name, who, { ttlMs: target.ttlMs })
            .pipe(
              whileLeader(
                (term) =>
                  new Observable<never>(() => {
                    log.push({ event: 'start', who, term });
                    return () => log.push({ event: 'stop', who, term });
                  }),
              ),
            )
            .subscribe(),
        );
      }
      const stopOrder = [2, 0, 3, 1];
      for (const index of stopOrder) {
        await eventually('someone works', () => log.at(-1)?.event === 'start');
        subscriptions[index].unsubscribe();
        await sleep(20);
      }
      await eventually('all stopped', () => log.at(-1)?.event === 'stop');
      // Never two workers at once: the log alternates start/stop, with rising terms.
      for (let i = 0; i < log.length; i++) {
        expect(log[i].event).to.equal(i % 2 === 0 ? 'start' : 'stop');
        if (i % 2 === 1) expect(log[i].who).to.equal(log[i - 1].who);
        if (i >= 2 && i % 2 === 0) expect(log[i].term > log[i - 2].term).to.equal(true);
      }
      expect(log.filter((e) => e.event === 'start').length).to.be.at.least(1);
    });

    it('unsubscribe cleans every key, lease and watch', async () => {
      const observer = watch();
      for (let i = 0; i < 3; i++) join(`node-${i}`);
      await settledLeader();
      expect(await target.residue(name)).to.not.deep.equal([]);
      for (const c of campaigners) c.resign();
      observer.stop();
      await eventually('no residue', async () => (await target.residue(name)).length === 0);
    });
  });
}
