import type { Cluster, Redis } from 'ioredis';
import type { SchedulerLike, Subscription } from 'rxjs';
import { scheduleOnce } from '../internal/scheduler.js';

/**
 * Pub/sub wake-ups on one duplicated connection, shared by every waiter of a RedisLocks: one
 * SUBSCRIBE per key that has waiters, dropped `lingerMs` after the last waiter leaves (so a client
 * that waits again and again on the same key, the contended case, keeps one subscription).
 *
 * The connection is ours, not the user's, so it must never be what keeps a process alive: it is
 * closed once its last channel is dropped, and when the user's client ends (`quit()`), so
 * unsubscribing everything and quitting one's own client lets the process exit without
 * `RedisLocks.close()`. The next waiter opens a new one.
 */
export class WakeHub {
  private subscriber: Redis | Cluster | undefined;
  private readonly channels = new Map<string, WakeChannel>();
  /** Bumped whenever the connection drops: messages may have been missed since. */
  private generation = 0;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly lingerMs: number,
    private readonly scheduler: SchedulerLike,
  ) {}

  /**
   * The current generation if `channel`'s subscription is confirmed (every PUBLISH from now on
   * reaches listeners while the generation stays the same), else undefined.
   */
  activeGeneration(channel: string): number | undefined {
    return this.channels.get(channel)?.active ? this.generation : undefined;
  }

  /**
   * Listens on `channel`. `onActive` runs once the subscription is confirmed, unless it already
   * was at `sinceGeneration` (from {@link activeGeneration}) and has been ever since. Returns the undo.
   */
  listen(
    channel: string,
    onMessage: (message: string) => void,
    onActive: () => void,
    sinceGeneration?: number,
  ): () => void {
    const subscriber = this.connection();
    let ch = this.channels.get(channel);
    if (ch === undefined) {
      ch = { listeners: new Set(), active: false, subscribing: false, onActive: [] };
      this.channels.set(channel, ch);
    }
    ch.linger?.unsubscribe();
    ch.linger = undefined;
    ch.listeners.add(onMessage);
    if (ch.active) {
      if (sinceGeneration !== this.generation) queueMicrotask(onActive);
    } else {
      ch.onActive.push(onActive);
      this.subscribe(subscriber, channel, ch);
    }
    const entry = ch;
    return () => {
      entry.listeners.delete(onMessage);
      if (entry.listeners.size > 0 || this.channels.get(channel) !== entry) return;
      entry.linger = scheduleOnce(this.scheduler, this.lingerMs, () => {
        this.channels.delete(channel);
        // An idle connection would keep the process alive: close it with the last channel.
        if (this.channels.size === 0 && this.subscriber === subscriber) this.disconnect();
        else subscriber.unsubscribe(channel).catch(() => undefined);
      });
    };
  }

  close(): void {
    for (const ch of this.channels.values()) ch.linger?.unsubscribe();
    this.channels.clear();
    this.disconnect();
  }

  /** The user's client ended: nothing can be locked through it any more, so drop ours too. */
  private readonly onClientEnd = (): void => this.close();

  private disconnect(): void {
    this.redis.off('end', this.onClientEnd);
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }

  private subscribe(subscriber: Redis | Cluster, channel: string, ch: WakeChannel): void {
    if (ch.subscribing) return;
    ch.subscribing = true;
    const generation = this.generation;
    subscriber.subscribe(channel).then(
      () => {
        ch.subscribing = false;
        if (this.channels.get(channel) !== ch) return;
        // A drop while subscribing: ioredis re-subscribes, but the confirmation may predate it.
        if (generation !== this.generation) return this.subscribe(subscriber, channel, ch);
        ch.active = true;
        for (const callback of ch.onActive.splice(0)) callback();
      },
      () => {
        ch.subscribing = false; // waiters re-check on their timers; the next listen() retries
      },
    );
  }

  private connection(): Redis | Cluster {
    if (this.subscriber === undefined) {
      const subscriber = (this.redis as { duplicate(): Redis | Cluster }).duplicate();
      subscriber.on('error', () => undefined); // reconnects by itself; waiters re-check on timers
      subscriber.on('close', () => {
        if (this.subscriber !== subscriber) return; // a connection we closed, already replaced
        this.generation++;
        for (const ch of this.channels.values()) ch.active = false;
      });
      subscriber.on('message', (channel: string, message: string) => {
        const ch = this.channels.get(channel);
        if (ch) for (const listener of ch.listeners) listener(message);
      });
      this.subscriber = subscriber;
      this.redis.once('end', this.onClientEnd);
    }
    return this.subscriber;
  }
}

interface WakeChannel {
  listeners: Set<(message: string) => void>;
  /** SUBSCRIBE confirmed and the connection has not dropped since. */
  active: boolean;
  subscribing: boolean;
  /** Callbacks waiting for the confirmation. */
  onActive: (() => void)[];
  /** Pending UNSUBSCRIBE once nobody listens. */
  linger?: Subscription;
}
