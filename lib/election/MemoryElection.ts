import { Observable, type SchedulerLike, type Subscriber } from 'rxjs';
import { NotLeaderError } from '../errors.js';
import { EventStream } from '../internal/EventStream.js';
import { resolveScheduler } from '../internal/scheduler.js';
import { validateMs, validateNonEmptyString, validateOptions } from '../internal/validate.js';
import type {
  CampaignOptions,
  Candidacy,
  ElectionBackend,
  ElectionEvent,
  Leader,
} from './ElectionBackend.js';
import { TermEvents } from './internal/TermEvents.js';

/** Options of {@link MemoryElection}. */
export interface MemoryElectionConfig {
  /** Clock of the `at` of {@link MemoryElection.events$}. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

interface Candidate {
  readonly id: string;
  value: string;
  readonly subscriber: Subscriber<Candidacy>;
  readonly events: TermEvents;
  term: bigint;
}

interface Race {
  /** FIFO: the head leads. */
  readonly candidates: Candidate[];
  leader: Leader | null;
  readonly observers: Set<Subscriber<Leader | null>>;
}

/**
 * Leader election inside one process or page: candidates line up first come, first served; the
 * head of the line leads until it resigns (unsubscribes). Terms count up per name for the life
 * of the instance. Emissions are synchronous, so it runs in `TestScheduler` virtual time.
 * `ttlMs` is validated and otherwise unused: a candidate in the same process cannot go silent,
 * so {@link events$} reports `elected` and `resigned`, never `lost`.
 *
 * ```
 * a: campaign  t-------|        (unsubscribe = resign)
 * b: campaign  --f-----t----    t = {isLeader: true}, f = {isLeader: false}
 * observe      A-------B----
 * ```
 *
 * @example
 * const election = new MemoryElection();
 * election.observe('jobs').subscribe((leader) => console.log('leader:', leader?.value ?? 'none'));
 * election.campaign('jobs', 'worker-1').pipe(whileLeader(() => interval(1000))).subscribe();
 */
export class MemoryElection implements ElectionBackend {
  readonly #events: EventStream<ElectionEvent>;
  /**
   * `elected` and `resigned` of this instance's campaigns, `at` from the config's scheduler.
   * Delivered in the same ordered queue as the other notifications: `elected` before the
   * observers and the winner hear of the new term, `resigned` before the next leader's `elected`.
   */
  readonly events$: Observable<ElectionEvent>;
  private readonly races = new Map<string, Race>();
  private readonly terms = new Map<string, bigint>();
  private nextId = 0;
  /** Notifications run in order from one loop, never nested, so re-entrant calls are safe. */
  private readonly outbox: (() => void)[] = [];
  private draining = false;

  constructor(config?: MemoryElectionConfig) {
    const { scheduler } = validateOptions('config', config, ['scheduler']);
    this.#events = new EventStream<ElectionEvent>(resolveScheduler(scheduler));
    this.events$ = this.#events.events$;
  }

  campaign(name: string, candidate: string, options?: CampaignOptions): Observable<Candidacy> {
    validateNonEmptyString('name', name);
    if (typeof candidate !== 'string')
      throw new TypeError(`candidate must be a string, got ${typeof candidate}`);
    const { ttlMs } = validateOptions('campaign options', options, ['ttlMs']);
    if (ttlMs !== undefined) validateMs('ttlMs', ttlMs, 1);
    return new Observable<Candidacy>((subscriber) => {
      const race = this.race(name);
      const self: Candidate = {
        id: `${name}/${++this.nextId}`,
        value: candidate,
        subscriber,
        events: new TermEvents(this.#events, name, candidate),
        term: 0n,
      };
      race.candidates.push(self);
      if (race.candidates.length > 1)
        this.send(() => subscriber.next(this.candidacy(name, self, false)));
      this.settle(name, race);
      return () => {
        const index = race.candidates.indexOf(self);
        if (index >= 0) race.candidates.splice(index, 1);
        if (race.leader?.id === self.id && this.#events.observed)
          this.send(() => self.events.resigned(self.term));
        this.settle(name, race);
      };
    });
  }

  observe(name: string): Observable<Leader | null> {
    validateNonEmptyString('name', name);
    return new Observable<Leader | null>((subscriber) => {
      const race = this.race(name);
      race.observers.add(subscriber);
      const current = race.leader;
      this.send(() => subscriber.next(current));
      this.flush();
      return () => {
        race.observers.delete(subscriber);
        this.forgetIfIdle(name, race);
      };
    });
  }

  private race(name: string): Race {
    let race = this.races.get(name);
    if (race === undefined) {
      race = { candidates: [], leader: null, observers: new Set() };
      this.races.set(name, race);
    }
    return race;
  }

  /** Makes the head of the line the leader (with a new term) if it is not already. */
  private settle(name: string, race: Race): void {
    const head = race.candidates[0];
    if (head === undefined) {
      if (race.leader !== null) this.announce(race, null);
      this.forgetIfIdle(name, race);
    } else if (race.leader?.id !== head.id) {
      const term = (this.terms.get(name) ?? 0n) + 1n;
      this.terms.set(name, term);
      head.term = term;
      if (this.#events.observed) this.send(() => head.events.elected(term));
      this.announce(race, { id: head.id, value: head.value, term });
      this.send(() => head.subscriber.next(this.candidacy(name, head, true)));
    }
    this.flush();
  }

  private announce(race: Race, leader: Leader | null): void {
    race.leader = leader;
    for (const observer of race.observers) this.send(() => observer.next(leader));
  }

  private candidacy(name: string, self: Candidate, isLeader: boolean): Candidacy {
    const term = self.term;
    return {
      isLeader,
      term,
      id: self.id,
      proclaim: (value: string) => {
        const race = this.races.get(name);
        if (race?.leader?.id !== self.id || race.leader.term !== term || !isLeader) {
          return Promise.reject(new NotLeaderError(`"${self.id}" does not lead "${name}"`));
        }
        self.value = value;
        if (race.leader.value !== value) this.announce(race, { ...race.leader, value });
        this.flush();
        return Promise.resolve();
      },
    };
  }

  private forgetIfIdle(name: string, race: Race): void {
    if (race.candidates.length === 0 && race.observers.size === 0 && this.races.get(name) === race)
      this.races.delete(name);
  }

  private send(notify: () => void): void {
    this.outbox.push(notify);
  }

  private flush(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let notify = this.outbox.shift(); notify; notify = this.outbox.shift()) notify();
    } finally {
      this.draining = false;
    }
  }
}
