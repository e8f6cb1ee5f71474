import type { SchedulerLike, Subscriber, Subscription, TeardownLogic } from 'rxjs';
import type { Leader } from '../election/ElectionBackend.js';
import { scheduleOnce } from '../internal/scheduler.js';
import type { ElectionChannels } from './ElectionChannels.js';
import { type ElectionKeys, parseLeader, parseMessage, READ } from './electionScripts.js';
import type { ScriptRunner } from './ScriptRunner.js';

/** What one observer needs from its RedisElection. Internal. */
export interface ObserveContext {
  readonly runner: ScriptRunner;
  readonly channels: ElectionChannels;
  readonly scheduler: SchedulerLike;
  readonly keys: ElectionKeys;
  /** The election's default TTL: the longest an observer goes without a re-read. */
  readonly ttlMs: number;
}

/**
 * Where an election stands: term `term` running (`vacant` false) or over (`vacant` true). Every
 * change on the server moves it forward (a term starts, then ends; the next one is higher), so
 * comparing positions orders messages and reads, which arrive on different connections.
 */
interface Position {
  readonly term: bigint;
  readonly vacant: boolean;
}

const compare = (a: Position, b: Position): number =>
  a.term !== b.term ? (a.term > b.term ? 1 : -1) : Number(a.vacant) - Number(b.vacant);

/** One READ reply, parsed. */
interface ReadResult {
  readonly position: Position;
  readonly leader: Leader | null;
  /** Leaders from the log, oldest first. */
  readonly log: readonly Leader[];
  /** Both keys gone while a leader was shown before: Redis lost its data (restart, flush). */
  readonly dataLost: boolean;
}

function parseRead(raw: string, counter: string, log?: readonly string[]): ReadResult {
  const leaders = (log ?? []).map(parseLeader).filter((l): l is Leader => l !== null);
  const leader = parseLeader(raw);
  const position = leader
    ? { term: leader.term, vacant: false }
    : { term: counter === '' ? 0n : BigInt(counter), vacant: true };
  return { position, leader, log: leaders.reverse(), dataLost: !leader && counter === '' };
}

/**
 * The subscribe function of `RedisElection.observe`: all state is this subscription's.
 *
 * Published messages are applied as they come (they carry the term, and Redis delivers one
 * channel's messages in the order it published them), so a leader that resigns at once is still
 * seen, and every term is seen in order. Reads (at subscribe, after a (re)subscription, and when
 * the leader's key would expire, since a crashed leader publishes nothing) fill what no message
 * said, from the election's log of recent leaders: the terms between what was shown and what
 * the read found. A read older than what was shown is dropped by its position; one that shows
 * the same term with another value counts only if no message arrived while it was in flight.
 *
 * Until the channel subscription is live, the first read's answer is held as the state at
 * subscribe time and messages are queued; the first read after it is live shows that state,
 * then the terms since (from the log), then the queue: nothing between subscribe and the live
 * subscription passes unseen.
 *
 * The first read failing (Redis down, no reply within the call deadline) errors the observer
 * with `BackendUnavailableError`: it cannot name the current leader, and silence would look like
 * a hang. Once it has shown a state, later failed re-reads are retried (a third of the TTL) and
 * the last state stands until Redis answers, as a watch that reconnects would.
 */
export function subscribeObserve(
  ctx: ObserveContext,
  subscriber: Subscriber<Leader | null>,
): TeardownLogic {
  const { runner, scheduler, keys, ttlMs } = ctx;
  let closed = false;
  let shown: { position: Position; leader: Leader | null } | undefined;
  /** The state at subscribe time, held until the subscription is live. */
  let baseline: ReadResult | undefined;
  /** Messages that came before the first live read, applied after it (bounded). */
  let queued: string[] | undefined = [];
  /** Messages received so far: a read replaces a same-term value only if none came meanwhile. */
  let messages = 0;
  let live = false;
  let reading = false;
  let again = false;
  let recheck: Subscription | undefined;

  const show = (position: Position, leader: Leader | null, fresh: boolean) => {
    const order = shown === undefined ? 1 : compare(position, shown.position);
    const changed =
      order > 0 ||
      (order === 0 && fresh && leader !== null && leader.value !== shown?.leader?.value);
    if (!changed) return;
    shown = { position, leader };
    subscriber.next(leader);
  };
  const apply = (text: string) => {
    const message = parseMessage(text);
    if (message?.kind === 'leader')
      return show({ term: message.leader.term, vacant: false }, message.leader, true);
    // '' (a resignation) does not say whose term ended: a read after a newer term started would
    // wrongly blank it, so only the read, ordered by its position, says what holds now.
    read();
  };
  const onMessage = (text: string) => {
    messages++;
    if (queued === undefined) return apply(text);
    if (queued.length < 1000) queued.push(text);
    else read(); // a flood before the first read: the log and the read make up for it
  };
  const applyRead = (result: ReadResult, fresh: boolean) => {
    const { position, leader } = result;
    for (const earlier of result.log)
      if (earlier.term < position.term || (position.vacant && earlier.term === position.term))
        show({ term: earlier.term, vacant: false }, earlier, false);
    if (!result.dataLost) return show(position, leader, fresh);
    // No keys at all: a new election, or Redis lost its data (then the shown leader is gone).
    if (shown === undefined) show(position, null, fresh);
    else if (fresh) show({ term: shown.position.term, vacant: true }, null, fresh);
  };
  const onRead = (result: ReadResult, fresh: boolean) => {
    if (!live) {
      baseline ??= result; // the state at subscribe time
      return;
    }
    if (baseline !== undefined) {
      show(baseline.position, baseline.leader, false);
      baseline = undefined;
    }
    applyRead(result, fresh);
    const pending = queued ?? [];
    queued = undefined;
    for (const text of pending) apply(text);
  };
  const read = () => {
    if (closed) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    again = false;
    recheck?.unsubscribe();
    const sentAfter = messages;
    runner.run(READ, [keys.leader, keys.term, keys.log], []).then(
      (reply) => {
        reading = false;
        if (closed) return;
        const [raw, pttl, counter, log] = reply as [string, number, string, string[]];
        onRead(parseRead(raw, counter, log), messages === sentAfter);
        const expiresIn = raw !== '' && pttl > 0 ? pttl + 1 : ttlMs;
        recheck = scheduleOnce(scheduler, Math.min(expiresIn, ttlMs), read);
        if (again) read();
      },
      (e: unknown) => {
        reading = false;
        if (closed) return;
        if (shown === undefined) return subscriber.error(e);
        recheck = scheduleOnce(scheduler, Math.floor(ttlMs / 3), read);
      },
    );
  };
  const resync = () => {
    live = true;
    read();
  };

  const unlisten = ctx.channels.listen(keys.channel, { message: onMessage, resync });
  // At once, not only after SUBSCRIBE: against a dead Redis this read fails within the deadline
  // (SUBSCRIBE would just wait). Its answer is held as the baseline until the subscription is live.
  read();
  return () => {
    closed = true;
    recheck?.unsubscribe();
    unlisten();
  };
}
