/**
 * The `events$` behaviour every ElectionBackend of this package must show, run against memory,
 * Redis and etcd alike (real servers, real time): order and fields of `elected`, `resigned` and
 * `lost`, relative to the campaign's own emissions, and `at` from the backend's clock. Every
 * wait is on an event, with a generous deadline.
 */
import { expect } from 'chai';
import {
  filter,
  firstValueFrom,
  ReplaySubject,
  throwError,
  timeout,
  type Observable,
  type Subscription,
} from 'rxjs';
import type { Candidacy, ElectionBackend, ElectionEvent } from '../../lib/election/index.js';
import { eventually } from './conformance.js';

/** A backend with the `events$` every backend of ours declares. */
export type EventfulElection = ElectionBackend & { readonly events$: Observable<ElectionEvent> };

export interface EventsTarget {
  backend: EventfulElection;
  /** A second backend object on the same store (memory: the same object, it has no store). */
  peer: EventfulElection;
  /** TTL for campaigns (ms). */
  ttlMs: number;
  /** The backends' scheduler clock (`at` comes from it). */
  now(): number;
  /** Takes leadership away from `leader` behind its back (key deleted, lease revoked). */
  forceLoss?(name: string, leader: Candidacy): Promise<void>;
  /** Keys and leases still held for `name` (empty when clean). */
  residue(name: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Deadline of every wait: long, since the etcd and Redis specs may run on a loaded machine. */
const DEADLINE_MS = 20_000;

/** Everything a stream emitted, in order, shared with the other recorders as one `log`. */
class Recorder<T> {
  readonly items: T[] = [];
  private readonly replay = new ReplaySubject<T>();
  private readonly subscription: Subscription;

  constructor(
    source: Observable<T>,
    private readonly label: string,
    log: string[],
    describeItem: (item: T) => string,
  ) {
    this.subscription = source.subscribe((item) => {
      this.items.push(item);
      log.push(`${label} ${describeItem(item)}`);
      this.replay.next(item);
    });
  }

  /** The first item (recorded before or after this call) that satisfies `predicate`. */
  until(what: string, predicate: (item: T) => boolean): Promise<T> {
    return firstValueFrom(
      this.replay.pipe(
        filter(predicate),
        timeout({
          first: DEADLINE_MS,
          with: () => throwError(() => new Error(`${this.label}: timed out waiting for ${what}`)),
        }),
      ),
    );
  }

  stop(): void {
    this.subscription.unsubscribe();
  }
}

const describeEvent = (e: ElectionEvent) => `${e.type}:${e.term}`;
const describeCandidacy = (c: Candidacy) => `${c.isLeader ? 'leads' : 'follows'}:${c.term}`;
/** The event's fields without `at` (checked on its own). */
const fields = ({ at: _at, error: _error, ...rest }: ElectionEvent & { error?: unknown }) => rest;

let counter = 0;
const freshName = () => `events-${process.pid}-${Date.now().toString(36)}-${++counter}`;

export function electionEventsConformance(label: string, open: () => Promise<EventsTarget>) {
  describe(`ElectionBackend events$ conformance: ${label}`, function () {
    this.timeout(60_000);
    let target: EventsTarget;
    let name: string;
    let log: string[];
    let recorders: Recorder<unknown>[];

    before(async function () {
      this.timeout(60_000);
      target = await open();
    });
    after(async () => target?.close());
    beforeEach(() => {
      name = freshName();
      log = [];
      recorders = [];
    });
    afterEach(async () => {
      for (const r of recorders) r.stop();
      await eventually('cleanup', async () => (await target.residue(name)).length === 0, 30_000);
    });

    const events = (backend: EventfulElection, who: string) => {
      const r = new Recorder(backend.events$, `${who} event`, log, describeEvent);
      recorders.push(r as Recorder<unknown>);
      return r;
    };
    const campaign = (backend: EventfulElection, candidate: string) => {
      const source = backend.campaign(name, candidate, { ttlMs: target.ttlMs });
      const r = new Recorder(source, `${candidate} campaign`, log, describeCandidacy);
      recorders.push(r as Recorder<unknown>);
      return r;
    };

    it('a campaign alone: elected {name, candidate, term} before its isLeader: true, at from the clock', async () => {
      const seen = events(target.backend, 'a');
      const before = target.now();
      const solo = campaign(target.backend, 'solo');
      const won = await solo.until('leadership', (c) => c.isLeader);
      const after = target.now();
      expect(seen.items.map(fields)).to.deep.equal([
        { type: 'elected', name, candidate: 'solo', term: won.term },
      ]);
      expect(seen.items[0].at).to.be.within(before, after);
      expect(log.indexOf(`a event elected:${won.term}`)).to.be.below(
        log.indexOf(`solo campaign leads:${won.term}`),
      );
    });

    it('unsubscribing the leader: resigned {name, term}, at from the clock', async () => {
      const seen = events(target.backend, 'a');
      const solo = campaign(target.backend, 'solo');
      const { term } = await solo.until('leadership', (c) => c.isLeader);
      const before = target.now();
      solo.stop();
      const resigned = await seen.until('resigned', (e) => e.type === 'resigned');
      expect(resigned.at).to.be.within(before, target.now());
      expect(seen.items.map(fields)).to.deep.equal([
        { type: 'elected', name, candidate: 'solo', term },
        { type: 'resigned', name, term },
      ]);
    });

    it('a follower on another backend object takes over: elected on that object, with a higher term', async () => {
      const sameObject = target.peer === target.backend;
      const first = events(target.backend, 'a');
      const second = sameObject ? first : events(target.peer, 'b');
      const leader = campaign(target.backend, 'first');
      const { term: firstTerm } = await leader.until('first leads', (c) => c.isLeader);
      const follower = campaign(target.peer, 'second');
      await follower.until('second joined', (c) => !c.isLeader);
      leader.stop();
      const elected = await second.until(
        'second elected',
        (e) => e.type === 'elected' && e.candidate === 'second',
      );
      const won = await follower.until('second leads', (c) => c.isLeader);
      expect(elected.term).to.equal(won.term);
      expect(won.term > firstTerm).to.equal(true);
      const firstEvents = [
        { type: 'elected', name, candidate: 'first', term: firstTerm },
        { type: 'resigned', name, term: firstTerm },
      ];
      const secondEvent = { type: 'elected', name, candidate: 'second', term: won.term };
      if (sameObject) {
        expect(first.items.map(fields)).to.deep.equal([...firstEvents, secondEvent]);
      } else {
        expect(first.items.map(fields)).to.deep.equal(firstEvents);
        expect(second.items.map(fields)).to.deep.equal([secondEvent]);
      }
      const prefix = sameObject ? 'a' : 'b';
      expect(log.indexOf(`${prefix} event elected:${won.term}`)).to.be.below(
        log.indexOf(`second campaign leads:${won.term}`),
      );
    });

    it('leadership taken away: lost {name, term, error} before its isLeader: false, then elected again', async function () {
      if (target.forceLoss === undefined) return this.skip();
      const seen = events(target.backend, 'a');
      const victim = campaign(target.backend, 'victim');
      const won = await victim.until('leadership', (c) => c.isLeader);
      const before = target.now();
      await target.forceLoss(name, won);
      const lost = await seen.until('lost', (e) => e.type === 'lost');
      await victim.until('loss', (c) => !c.isLeader && c.term === won.term);
      expect(lost.at).to.be.within(before, target.now());
      expect(fields(lost)).to.deep.equal({ type: 'lost', name, term: won.term });
      expect(lost).to.have.nested.property('error.code', 'ERR_RXC_SESSION_EXPIRED');
      expect(log.indexOf(`a event lost:${won.term}`)).to.be.below(
        log.indexOf(`victim campaign follows:${won.term}`),
      );
      // The campaign runs on: its next term is elected, and resigned on unsubscribe.
      const again = await victim.until('leads again', (c) => c.isLeader && c.term > won.term);
      victim.stop();
      await seen.until('resigned', (e) => e.type === 'resigned');
      expect(seen.items.map(fields)).to.deep.equal([
        { type: 'elected', name, candidate: 'victim', term: won.term },
        { type: 'lost', name, term: won.term },
        { type: 'elected', name, candidate: 'victim', term: again.term },
        { type: 'resigned', name, term: again.term },
      ]);
    });

    it('is hot with no replay: a late subscriber sees only what happens after it subscribed', async () => {
      const early = events(target.backend, 'early');
      const solo = campaign(target.backend, 'solo');
      const { term } = await solo.until('leadership', (c) => c.isLeader);
      await early.until('elected', (e) => e.type === 'elected');
      const late = events(target.backend, 'late');
      solo.stop();
      await late.until('resigned', (e) => e.type === 'resigned');
      expect(late.items.map(fields)).to.deep.equal([{ type: 'resigned', name, term }]);
    });
  });
}
