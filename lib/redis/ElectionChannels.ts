import type { Cluster, Redis } from 'ioredis';

/** One campaign's or observer's interest in an election channel. */
export interface ChannelListener {
  /** A message PUBLISHed on the channel, in the order the server published them. */
  message(text: string): void;
  /**
   * The subscription is (re)confirmed: messages published meanwhile may be lost, so re-read.
   * Runs after the first SUBSCRIBE and after every reconnect of the subscriber connection.
   */
  resync(): void;
}

/**
 * The pub/sub side of a RedisElection: one subscriber connection (a duplicate of the client)
 * shared by every campaign and observer of the instance, one SUBSCRIBE per election with
 * listeners. The connection is closed when the last listener leaves, and also when the main
 * client ends (`quit()`, `disconnect()`): a duplicate nobody can reach would otherwise keep the
 * process alive. If the main client is reconnected afterwards, the next listen() opens a new
 * connection and subscribes every channel that still has listeners. Internal.
 */
export class ElectionChannels {
  private connection: Redis | Cluster | undefined;
  private readonly channels = new Map<string, ChannelEntry>();

  constructor(private readonly redis: Redis | Cluster) {}

  /**
   * Starts listening on `channel`; returns the undo. `resync` runs once the subscription is
   * confirmed (at once, in a microtask, if it already was), so a listener knows from then on
   * that no message passes it by.
   */
  listen(channel: string, listener: ChannelListener): () => void {
    let entry = this.channels.get(channel);
    const fresh = entry === undefined;
    entry ??= { listeners: new Set(), active: false, subscribingOn: undefined };
    this.channels.set(channel, entry);
    entry.listeners.add(listener);
    if (this.connection === undefined)
      this.open(); // subscribes every channel, this one too
    else if (fresh) this.subscribe(this.connection, channel);
    if (entry.active) queueMicrotask(() => entry.listeners.has(listener) && listener.resync());
    return () => this.unlisten(channel, listener);
  }

  private unlisten(channel: string, listener: ChannelListener): void {
    const entry = this.channels.get(channel);
    if (!entry?.listeners.delete(listener) || entry.listeners.size > 0) return;
    this.channels.delete(channel);
    if (this.channels.size === 0) this.close();
    else this.connection?.unsubscribe(channel).catch(() => undefined);
  }

  private subscribe(connection: Redis | Cluster, channel: string): void {
    const entry = this.channels.get(channel);
    if (entry === undefined || entry.subscribingOn === connection) return;
    entry.subscribingOn = connection;
    const settle = (active: boolean) => {
      if (entry.subscribingOn === connection) entry.subscribingOn = undefined;
      if (this.channels.get(channel) !== entry || connection !== this.connection) return;
      entry.active = active;
      this.resync(channel);
    };
    // Refused (the connection is down and ioredis gave up on the queued SUBSCRIBE, which it then
    // never repeats): resync anyway, so listeners read; they poll on their own timers, and the
    // next 'ready' subscribes again.
    connection.subscribe(channel).then(
      () => settle(true),
      () => settle(false),
    );
  }

  private resync(channel: string): void {
    for (const listener of [...(this.channels.get(channel)?.listeners ?? [])]) listener.resync();
  }

  /** Opens the subscriber connection and subscribes every channel; none for an ended client. */
  private open(): void {
    if (this.redis.status === 'end') return;
    const redis = this.redis;
    const connection = redis.isCluster
      ? (redis as Cluster).duplicate()
      : (redis as Redis).duplicate();
    this.connection = connection;
    connection.on('error', () => undefined); // reconnects by itself; listeners re-read on timers
    connection.on('message', (channel: string, text: string) => {
      const entry = this.channels.get(channel);
      for (const listener of [...(entry?.listeners ?? [])]) listener.message(text);
    });
    let connected = false;
    connection.on('ready', () => {
      for (const [channel, entry] of this.channels) {
        // Not subscribed (a refused SUBSCRIBE): subscribe now; the reply resyncs. The first
        // 'ready' precedes the replies of the SUBSCRIBEs queued meanwhile, which resync too.
        if (!entry.active) this.subscribe(connection, channel);
        else if (connected) this.resync(channel); // ioredis resubscribed: messages may be lost
      }
      connected = true;
    });
    redis.on('end', this.close);
    for (const channel of this.channels.keys()) this.subscribe(connection, channel);
  }

  private readonly close = (): void => {
    const connection = this.connection;
    if (connection === undefined) return;
    this.connection = undefined;
    for (const entry of this.channels.values()) entry.active = false;
    this.redis.off('end', this.close);
    connection.disconnect();
  };
}

interface ChannelEntry {
  readonly listeners: Set<ChannelListener>;
  /** SUBSCRIBE answered on the current connection. */
  active: boolean;
  /** The connection a SUBSCRIBE is in flight on (not sent twice on one connection). */
  subscribingOn: Redis | Cluster | undefined;
}
