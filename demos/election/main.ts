// Leader election page: candidate nodes (in this page on a MemoryElection, or processes in the
// demo server on Redis/etcd), the leader highlighted with its term, leader-only work ticking only
// on the leader under supervise (a "fault" restarts it; too many in a row make the node resign),
// and a live timeline of leader changes.
import {
  combineLatest,
  interval,
  map,
  merge,
  NEVER,
  Observable,
  startWith,
  Subject,
  Subscription,
  switchMap,
  tap,
} from 'rxjs';
import {
  leaderChanges,
  MemoryElection,
  supervise,
  TimeoutError,
  whileLeader,
} from '../../lib/index.js';
import { button, controls, eventLog, select, slider, stat } from '../kit/controls.js';
import { MarbleDiagram } from '../kit/marbles.js';
import { callAction, serverStream } from '../kit/sse.js';

type NodeState = 'follower' | 'leader' | 'paused' | 'dead';
type Backend = 'memory' | 'redis' | 'etcd';
interface LeaderInfo {
  value: string;
  term: string;
}

const $ = (selector: string) => document.querySelector<HTMLElement>(selector)!;
const bar = controls($('#controls'));
const backend = select<Backend>(bar, {
  label: 'backend',
  options: ['memory', 'redis', 'etcd'],
  value: 'memory',
});
const count = slider(bar, { label: 'nodes', min: 2, max: 5, step: 1, value: 4 });
const restart = button(bar, 'restart', { kind: 'primary' });
const stats = $('#stats');
const leaderStat = stat(stats, 'leader', 'none');
const termStat = stat(stats, 'term', '–');
const changesStat = stat(stats, 'leader changes', 0);
const log = eventLog($('#log'));

/** A node card: state, term, ticks, and its kill / pause / restart buttons. */
class NodeCard {
  state: NodeState = 'follower';
  term = '–';
  ticks = 0;
  readonly element = document.createElement('article');
  private readonly role = document.createElement('span');
  private readonly fields = document.createElement('dl');
  readonly kill: HTMLButtonElement;
  readonly pause: HTMLButtonElement;
  /** Injects a transient error into the leader's work (memory backend only). */
  readonly fault: HTMLButtonElement;

  constructor(
    readonly id: string,
    parent: HTMLElement,
    private readonly canFault: boolean,
  ) {
    this.element.className = 'node';
    this.element.dataset.node = id;
    const title = document.createElement('h3');
    title.append(id, this.role);
    this.role.className = 'role';
    const buttons = document.createElement('div');
    buttons.className = 'buttons';
    this.element.append(title, this.fields, buttons);
    this.kill = button(buttons, 'kill', { kind: 'danger' }).element;
    this.pause = button(buttons, 'pause').element;
    this.fault = button(buttons, 'fault').element;
    this.fault.dataset.action = 'fault';
    this.fault.title = canFault
      ? "a transient error in the leader's work: supervise restarts it"
      : 'faults are injected in the memory backend only';
    parent.appendChild(this.element);
    this.render();
  }

  update(patch: Partial<Pick<NodeCard, 'state' | 'term' | 'ticks'>>): void {
    Object.assign(this, patch);
    this.render();
  }

  private render(): void {
    this.element.dataset.state = this.state;
    this.role.textContent = this.state;
    this.fields.innerHTML = '';
    for (const [k, v] of [
      ['term', this.term],
      ['work ticks', String(this.ticks)],
    ]) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      this.fields.append(dt, dd);
    }
    this.kill.textContent = this.state === 'dead' ? 'restart' : 'kill';
    this.pause.textContent = this.state === 'paused' ? 'resume' : 'pause';
    this.pause.disabled = this.state === 'dead';
    this.fault.disabled = !this.canFault || this.state !== 'leader';
  }
}

let diagram: MarbleDiagram | undefined;
/** A work tick's marble: its term (Redis terms are long, so their last digits). */
const workLabel = (term: string) => `t${term.slice(-3)}`;
let changes = 0;

/** Draws the leader lane, the stats and the timeline from a stream of leaders. */
function showLeaders(leaders$: Observable<LeaderInfo | null>): Subscription {
  return leaders$.subscribe((leader) => {
    diagram?.mark('leader', 'next', leader ? `${leader.value}:${leader.term}` : '∅');
    if (leader) {
      changes++;
      leaderStat.set(leader.value, 'ok');
      termStat.set(leader.term);
      changesStat.set(changes);
      log.write(`leader → ${leader.value} (term ${leader.term})`, 'ok');
    } else {
      leaderStat.set('none', 'warn');
      log.write('no leader', 'warn');
    }
  });
}

/** Restart intensity of the leader's work: a third fault within 10 s makes the node resign. */
const workSupervision = { maxRestarts: 2, withinMs: 10_000, initialMs: 300, maxMs: 2_000 };

/**
 * The leader-only work: a tick every 300 ms tagged with the term, failing with a transient
 * error on each fault click. supervise restarts it after a backoff; past its intensity the error
 * escalates, ending the campaign (the node resigns) instead of ticking on in a broken state.
 */
function leaderWork(card: NodeCard, faults$: Observable<void>, term: bigint): Observable<bigint> {
  const failure$ = faults$.pipe(
    map((): never => {
      throw new TimeoutError(300, 'work step timed out (injected fault)');
    }),
  );
  return merge(interval(300).pipe(map(() => term)), failure$).pipe(
    tap({
      error: (e: Error) => {
        diagram?.mark(`work ${card.id}`, 'error');
        log.write(`${card.id}'s work failed: ${e.message}`, 'warn');
      },
    }),
    supervise(workSupervision),
  );
}

/** Memory backend: every node is a campaign in this page. */
function runInMemory(cards: NodeCard[]): Subscription {
  const election = new MemoryElection();
  const name = 'demo';
  // The leader display first: teardown runs in this order, so stopping the page's nodes does not
  // log their hand-overs.
  const all = showLeaders(
    leaderChanges(election, name).pipe(
      map((l) => (l ? { value: l.value, term: String(l.term) } : null)),
    ),
  );
  const faults = new Map(cards.map((card) => [card, new Subject<void>()]));
  const join = (card: NodeCard) => {
    const node = election
      .campaign(name, card.id)
      .pipe(
        tap((c) =>
          card.update({ state: c.isLeader ? 'leader' : 'follower', term: String(c.term) }),
        ),
        whileLeader((term) => leaderWork(card, faults.get(card)!, term)),
      )
      .subscribe({
        next: (term) => {
          card.update({ ticks: card.ticks + 1 });
          diagram?.mark(`work ${card.id}`, 'next', workLabel(String(term)));
        },
        error: (e: Error) => {
          card.update({ state: 'dead' });
          const { maxRestarts, withinMs } = workSupervision;
          log.write(
            `${card.id} resigned: its work failed again after ${maxRestarts} restarts within ${withinMs / 1000} s (${e.message})`,
            'bad',
          );
        },
      });
    all.add(node);
    return node;
  };
  const nodes = new Map(cards.map((card) => [card, join(card)]));
  for (const card of cards) {
    card.fault.onclick = () => faults.get(card)!.next();
    card.kill.onclick = () => {
      if (card.state === 'dead') nodes.set(card, join(card));
      else {
        nodes.get(card)!.unsubscribe();
        card.update({ state: 'dead' });
      }
    };
    card.pause.onclick = () => {
      if (card.state === 'paused') nodes.set(card, join(card));
      else {
        nodes.get(card)!.unsubscribe();
        card.update({ state: 'paused' });
      }
    };
  }
  return all;
}

interface NodeEvent {
  t: 'ready' | 'state' | 'start' | 'tick' | 'stop' | 'error';
  id: string;
  term?: string;
  isLeader?: boolean;
}

/** Redis / etcd: nodes are processes in the demo server, watched over SSE. */
function runOnServer(kind: 'redis' | 'etcd', n: number, cards: NodeCard[]): Subscription {
  const name = `demo-${Date.now().toString(36)}`;
  const query = `backend=${kind}&name=${name}`;
  const byId = new Map(cards.map((c) => [c.id, c]));
  const reportedLeader = new Map<string, boolean>();
  const all = new Subscription();
  const signal = (card: NodeCard, what: string) =>
    callAction('/api/election/signal', { name, id: card.id, signal: what }).catch((e: Error) =>
      log.write(`${what} ${card.id} failed: ${e.message}`, 'bad'),
    );
  for (const card of cards) {
    card.kill.onclick = () => {
      if (card.state === 'dead')
        void signal(card, 'restart').then(() => card.update({ state: 'follower' }));
      else void signal(card, 'kill').then(() => card.update({ state: 'dead' }));
    };
    card.pause.onclick = () => {
      const resume = card.state === 'paused';
      void signal(card, resume ? 'resume' : 'pause').then(() =>
        card.update({ state: resume ? 'follower' : 'paused' }),
      );
    };
  }
  all.add(
    serverStream<NodeEvent>(`/sse/election/nodes?${query}&count=${n}`).subscribe({
      next: (e) => {
        const card = byId.get(e.id);
        if (!card || card.state === 'dead') return;
        if (e.t === 'state') {
          if (reportedLeader.get(card.id) && !e.isLeader)
            log.write(`${card.id} reports it lost leadership (term ${e.term})`, 'warn');
          reportedLeader.set(card.id, e.isLeader === true);
          if (card.state !== 'paused')
            card.update({ state: e.isLeader ? 'leader' : 'follower', term: e.term ?? '–' });
        }
        if (e.t === 'tick') {
          card.update({ ticks: card.ticks + 1 });
          if (card.ticks % 3 === 0)
            diagram?.mark(`work ${card.id}`, 'next', workLabel(e.term ?? ''));
        }
      },
      error: (e: Error) => log.write(`node stream: ${e.message}`, 'bad'),
    }),
  );
  all.add(showLeaders(serverStream<LeaderInfo | null>(`/sse/election/leader?${query}`)));
  return all;
}

combineLatest([backend.value$, count.value$, restart.clicks$.pipe(startWith(undefined))])
  .pipe(
    switchMap(
      ([kind, n]) =>
        new Observable<never>(() => {
          diagram?.dispose();
          $('#marbles').innerHTML = '';
          $('#nodes').innerHTML = '';
          changes = 0;
          changesStat.set(0);
          diagram = new MarbleDiagram($('#marbles'), {
            title: `leaderChanges (node:term) and each node's leader-only work — ${kind}`,
          });
          diagram.track('leader', NEVER); // lanes in a fixed order: leader, then each node
          const cards = [...Array(n).keys()].map(
            (i) => new NodeCard(`n${i + 1}`, $('#nodes'), kind === 'memory'),
          );
          for (const card of cards) diagram.track(`work ${card.id}`, NEVER);
          log.write(`started ${n} nodes on ${kind}`);
          const running = kind === 'memory' ? runInMemory(cards) : runOnServer(kind, n, cards);
          return () => running.unsubscribe();
        }),
    ),
  )
  .subscribe();
