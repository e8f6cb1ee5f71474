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
  /** The call deadline: how long a new observer may go without naming a leader, then errors. */
  readonly commandTimeoutMs: number;
}

/** Pause before the first read is retried after a fast failure (a connection still opening). */
const FIRST_READ_RETRY_MS = 50;

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
 * The subscribe function of `RedisElection.observe`: all state is this subscription's (one
 * {@link ObserveRun} per subscriber).
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
  return new ObserveRun(ctx, subscriber).start();
}

/** One subscription's observer. */
class ObserveRun {
  private closed = false;
  private shown: { position: Position; leader: Leader | null } | undefined;
  /** The state at subscribe time, held until the subscription is live. */
  private baseline: ReadResult | undefined;
  /** Messages that came before the first live read, applied after it (bounded). */
  private queued: string[] | undefined = [];
  /** Messages received so far: a read replaces a same-term value only if none came meanwhile. */
  private messages = 0;
  private live = false;
  private reading = false;
  private again = false;
  private recheck: Subscription | undefined;
  /** Scheduler time of subscribe: the first read's deadline counts from here. */
  private readonly startedAt: number;

  constructor(
    private readonly ctx: ObserveContext,
    private readonly subscriber: Subscriber<Leader | null>,
  ) {
    this.startedAt = ctx.scheduler.now();
  }

  start(): TeardownLogic {
    const unlisten = this.ctx.channels.listen(this.ctx.keys.channel, {
      message: (text) => this.onMessage(text),
      resync: () => {
        this.live = true;
        this.read();
      },
    });
    // At once, not only after SUBSCRIBE: against a dead Redis this read fails within the
    // deadline (SUBSCRIBE would just wait). Its answer is the baseline until the channel is live.
    this.read();
    return () => {
      this.closed = true;
      this.recheck?.unsubscribe();
      unlisten();
    };
  }

  private show(position: Position, leader: Leader | null, fresh: boolean): void {
    const { shown } = this;
    const order = shown === undefined ? 1 : compare(position, shown.position);
    const changed =
      order > 0 ||
      (order === 0 && fresh && leader !== null && leader.value !== shown?.leader?.value);
    if (!changed) return;
    this.shown = { position, leader };
    this.subscriber.next(leader);
  }

  private apply(text: string): void {
    const message = parseMessage(text);
    if (message?.kind === 'leader')
      return this.show({ term: message.leader.term, vacant: false }, message.leader, true);
    // '' (a resignation) does not say whose term ended: a read after a newer term started would
    // wrongly blank it, so only the read, ordered by its position, says what holds now.
    this.read();
  }

  private onMessage(text: string): void {
    this.messages++;
    if (this.queued === undefined) return this.apply(text);
    if (this.queued.length < 1000) this.queued.push(text);
    else this.read(); // a flood before the first read: the log and the read make up for it
  }

  private applyRead(result: ReadResult, fresh: boolean): void {
    const { position, leader } = result;
    for (const earlier of result.log)
      if (earlier.term < position.term || (position.vacant && earlier.term === position.term))
        this.show({ term: earlier.term, vacant: false }, earlier, false);
    if (!result.dataLost) return this.show(position, leader, fresh);
    // No keys at all: a new election, or Redis lost its data (then the shown leader is gone).
    if (this.shown === undefined) this.show(position, null, fresh);
    else if (fresh) this.show({ term: this.shown.position.term, vacant: true }, null, fresh);
  }

  private onRead(result: ReadResult, fresh: boolean): void {
    if (!this.live) {
      this.baseline ??= result; // the state at subscribe time
      return;
    }
    if (this.baseline !== undefined) {
      this.show(this.baseline.position, this.baseline.leader, false);
      this.baseline = undefined;
    }
    this.applyRead(result, fresh);
    const pending = this.queued ?? [];
    this.queued = undefined;
    for (const text of pending) this.apply(text);
  }

  private readonly read = (): void => {
    if (this.closed) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    this.again = false;
    this.recheck?.unsubscribe();
    const { runner, keys } = this.ctx;
    const sentAfter = this.messages;
    runner.run(READ, [keys.leader, keys.term, keys.log], []).then(
      (reply) => this.answered(reply as [string, number, string, string[]], sentAfter),
      (e: unknown) => this.failed(e),
    );
  };

  private answered(
    [raw, pttl, counter, log]: [string, number, string, string[]],
    sentAfter: number,
  ) {
    this.reading = false;
    if (this.closed) return;
    const { scheduler, ttlMs } = this.ctx;
    this.onRead(parseRead(raw, counter, log), this.messages === sentAfter);
    // A leader that crashes publishes nothing: look again when its key would expire.
    const expiresIn = raw !== '' && pttl > 0 ? pttl + 1 : ttlMs;
    this.recheck = scheduleOnce(scheduler, Math.min(expiresIn, ttlMs), this.read);
    if (this.again) this.read();
  }

  private failed(e: unknown): void {
    this.reading = false;
    if (this.closed) return;
    const { scheduler, ttlMs, commandTimeoutMs } = this.ctx;
    if (this.shown === undefined) {
      // A fast failure (a connection, a Cluster client, still opening) is retried; only no
      // answer by the call deadline since subscribe errors the observer.
      const left = this.startedAt + commandTimeoutMs - scheduler.now();
      if (left <= FIRST_READ_RETRY_MS) return this.subscriber.error(e);
      this.recheck = scheduleOnce(scheduler, FIRST_READ_RETRY_MS, this.read);
      return;
    }
    this.recheck = scheduleOnce(scheduler, Math.floor(ttlMs / 3), this.read);
  }
}
