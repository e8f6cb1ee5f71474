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
    entry ??= { listeners: new Set(), active: false };
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
    const settle = () => {
      const entry = this.channels.get(channel);
      if (entry === undefined || connection !== this.connection) return;
      entry.active = true;
      this.resync(channel);
    };
    // Refused for now: resync anyway, so listeners read; their own timers re-read meanwhile.
    connection.subscribe(channel).then(settle, settle);
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
      // The first 'ready' precedes the SUBSCRIBE replies, which resync by themselves.
      if (connected) for (const channel of this.channels.keys()) this.resync(channel);
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
}
