// Distributed lock page: N clients contending for one lock (MemoryLocks in this page, or
// RedisLocks / EtcdLocks in the demo server over SSE), a timeline of who holds it with which
// fence, the fenced store's accepted and rejected writes, and pause / kill buttons per client.
import { combineLatest, NEVER, Observable, startWith, switchMap, type Subscription } from 'rxjs';
import { MemoryLocks } from '../../lib/lock/index.js';
import { button, controls, eventLog, select, slider, stat } from '../kit/controls.js';
import { MarbleDiagram } from '../kit/marbles.js';
import { callAction, serverStream } from '../kit/sse.js';
import { contenders, type ContenderEvent } from './contenders.js';

type Backend = 'memory' | 'redis' | 'etcd';
type ClientState = 'waiting' | 'holding' | 'paused' | 'dead';

const $ = (selector: string) => document.querySelector<HTMLElement>(selector)!;
const bar = controls($('#controls'));
const backend = select<Backend>(bar, {
  label: 'backend',
  options: ['memory', 'redis', 'etcd'],
  value: 'memory',
});
const count = slider(bar, { label: 'clients', min: 2, max: 6, step: 1, value: 4 });
const restart = button(bar, 'restart', { kind: 'primary' });
const stats = $('#stats');
const holderStat = stat(stats, 'holder', 'none');
const fenceStat = stat(stats, 'fence', '–');
const acquiredStat = stat(stats, 'acquisitions', 0);
const rejectedStat = stat(stats, 'stale writes rejected', 0);
const log = eventLog($('#log'));
let diagram: MarbleDiagram | undefined;

/** A client card with its state, last fence and pause / kill buttons. */
class ClientCard {
  state: ClientState = 'waiting';
  readonly element = document.createElement('article');
  private readonly role = document.createElement('span');
  private readonly fence = document.createElement('div');
  readonly pause = document.createElement('button');
  readonly kill = document.createElement('button');

  constructor(
    readonly id: string,
    parent: HTMLElement,
  ) {
    this.element.className = 'client';
    this.element.dataset.client = id;
    const title = document.createElement('h3');
    this.role.className = 'role';
    title.append(id, this.role);
    this.fence.className = 'fence';
    const buttons = document.createElement('div');
    buttons.className = 'buttons';
    this.pause.className = 'button';
    this.pause.dataset.action = 'pause';
    this.kill.className = 'button button-danger';
    this.kill.dataset.action = 'kill';
    this.kill.textContent = 'kill';
    buttons.append(this.pause, this.kill);
    this.element.append(title, this.fence, buttons);
    parent.appendChild(this.element);
    this.update('waiting');
  }

  update(state: ClientState, fence?: string): void {
    this.state = state;
    this.element.dataset.state = state;
    this.role.textContent = state;
    if (fence !== undefined) this.fence.textContent = `fence ${fence}`;
    this.pause.textContent = state === 'paused' ? 'resume' : 'pause';
    this.kill.disabled = state === 'dead';
    this.pause.disabled = state === 'dead';
  }
}

function show(events$: Observable<ContenderEvent>, cards: Map<string, ClientCard>): Subscription {
  let acquisitions = 0;
  let rejected = 0;
  return events$.subscribe({
    next: (e) => {
      const card = cards.get(e.client);
      if (!card) return;
      const paused = card.state === 'paused';
      switch (e.t) {
        case 'acquired':
          acquisitions++;
          acquiredStat.set(acquisitions);
          holderStat.set(e.client, 'ok');
          fenceStat.set(e.fence!);
          if (!paused) card.update('holding', e.fence);
          diagram?.mark(`client ${e.client}`, 'next', `#${e.fence}`);
          log.write(`${e.client} holds the lock, fence ${e.fence}`, 'ok');
          break;
        case 'write':
          diagram?.mark('store', 'next', `${e.client}#${e.fence}`);
          break;
        case 'rejected':
          rejected++;
          rejectedStat.set(rejected, 'warn');
          diagram?.mark('store', 'error', `${e.client}#${e.fence}`);
          log.write(`store rejected ${e.client}'s stale write with fence ${e.fence}`, 'warn');
          break;
        case 'released':
          if (!paused) card.update('waiting');
          diagram?.mark(`client ${e.client}`, 'complete');
          break;
        case 'lost':
          diagram?.mark(`client ${e.client}`, 'error');
          log.write(`${e.client} lost its lease${e.fence ? ` (fence ${e.fence})` : ''}`, 'bad');
          if (!paused && card.state !== 'dead') card.update('waiting');
          break;
        case 'killed':
          card.update('dead');
          diagram?.mark(`client ${e.client}`, 'unsubscribe');
          log.write(`${e.client} killed (its lease lapses after the TTL)`, 'bad');
          break;
        case 'restarted':
          card.update('waiting');
          log.write(`${e.client} restarted`);
          break;
        case 'waiting':
          if (!paused && card.state !== 'dead') card.update('waiting');
          break;
      }
    },
    error: (e: Error) => log.write(`clients stream: ${e.message}`, 'bad'),
  });
}

function wire(cards: Map<string, ClientCard>, act: (id: string, action: string) => void): void {
  for (const card of cards.values()) {
    card.pause.onclick = () => {
      const resume = card.state === 'paused';
      act(card.id, resume ? 'resume' : 'pause');
      card.update(resume ? 'waiting' : 'paused');
      log.write(`${card.id} ${resume ? 'resumed' : 'paused (no keepalive, no work)'}`, 'warn');
    };
    card.kill.onclick = () => act(card.id, 'kill');
  }
}

combineLatest([backend.value$, count.value$, restart.clicks$.pipe(startWith(undefined))])
  .pipe(
    switchMap(
      ([kind, n]) =>
        new Observable<never>(() => {
          diagram?.dispose();
          $('#marbles').innerHTML = '';
          $('#clients').innerHTML = '';
          holderStat.set('none');
          fenceStat.set('–');
          acquiredStat.set(0);
          rejectedStat.set(0);
          diagram = new MarbleDiagram($('#marbles'), {
            title: `who holds the lock (#fence), and the fenced store's writes — ${kind}`,
          });
          diagram.track('store', NEVER);
          const cards = new Map<string, ClientCard>();
          for (let i = 1; i <= n; i++) {
            const card = new ClientCard(`c${i}`, $('#clients'));
            cards.set(card.id, card);
            diagram.track(`client ${card.id}`, NEVER);
          }
          log.write(`started ${n} clients on ${kind}`);
          if (kind === 'memory') {
            const locks = new MemoryLocks();
            const running = contenders(n, () => locks);
            wire(cards, (id, action) => running.act(id, action as 'pause' | 'resume' | 'kill'));
            const sub = show(running.events$, cards);
            return () => sub.unsubscribe();
          }
          const session = `s${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
          wire(cards, (id, action) => {
            callAction('/api/lock/act', { session, client: id, action }).catch((e: Error) =>
              log.write(`${action} ${id} failed: ${e.message}`, 'bad'),
            );
          });
          const sub = show(
            serverStream<ContenderEvent>(
              `/sse/lock/clients?backend=${kind}&count=${n}&session=${session}`,
            ),
            cards,
          );
          return () => sub.unsubscribe();
        }),
    ),
  )
  .subscribe();

// Offer only the backends the demo server is configured with.
callAction<{ redis: boolean; etcd: boolean }>('/api/lock/available', {})
  .then((available) => {
    for (const option of backend.element.querySelectorAll('option')) {
      if (option.value !== 'memory') option.disabled = !available[option.value as 'redis' | 'etcd'];
    }
  })
  .catch(() => undefined);
