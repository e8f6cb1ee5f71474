// Lock contenders shared by the page (MemoryLocks) and the demo server (RedisLocks/EtcdLocks):
// each client loops acquire → three fenced writes 250 ms apart → release, keeping its lease
// alive every TTL/3. "pause" freezes a client (no keepalive, no work), as a stopped process;
// "kill" drops it without releasing, as a crashed one (its lease lapses after the TTL).
import { Observable } from 'rxjs';
import type { LockBackend, LockLease } from '../../lib/lock/index.js';

export const LOCK_KEY = 'demo-lock';
export const TTL_MS = 2_000;

export interface ContenderEvent {
  client: string;
  t: 'waiting' | 'acquired' | 'write' | 'rejected' | 'released' | 'lost' | 'killed' | 'restarted';
  fence?: string;
  note?: string;
}

/** The guarded resource: accepts a write only with a fence >= the highest it has seen. */
export class FencedStore {
  private highest = 0n;
  write(fence: bigint): boolean {
    if (fence < this.highest) return false;
    this.highest = fence;
    return true;
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

class Contender {
  paused = false;
  private resume: (() => void) | undefined;
  private life = new AbortController();

  constructor(
    readonly id: string,
    private readonly locks: () => LockBackend,
    private readonly store: FencedStore,
    private readonly emit: (e: ContenderEvent) => void,
    private readonly stopped: AbortSignal,
  ) {
    void this.run(this.life.signal);
  }

  pause(): void {
    this.paused = true;
  }

  unpause(): void {
    this.paused = false;
    this.resume?.();
  }

  /** Stops the client for good (page or stream closed). */
  stop(): void {
    this.life.abort();
    this.unpause();
  }

  /** Crashes the client (its lease is never released) and restarts it 3 s later. */
  kill(): void {
    this.life.abort();
    this.emit({ client: this.id, t: 'killed' });
    this.paused = false;
    this.resume?.();
    setTimeout(() => {
      if (this.stopped.aborted) return;
      this.life = new AbortController();
      this.emit({ client: this.id, t: 'restarted' });
      void this.run(this.life.signal);
    }, 3_000);
  }

  private async frozen(signal: AbortSignal): Promise<void> {
    while (this.paused && !signal.aborted) {
      await new Promise<void>((r) => (this.resume = r));
    }
  }

  private async run(life: AbortSignal): Promise<void> {
    const alive = () => !life.aborted && !this.stopped.aborted;
    const backend = this.locks();
    while (alive()) {
      await this.frozen(life);
      this.emit({ client: this.id, t: 'waiting' });
      let lease: LockLease;
      try {
        lease = await backend.acquire(LOCK_KEY, { ttlMs: TTL_MS, signal: life });
      } catch (e) {
        if (alive()) this.emit({ client: this.id, t: 'lost', note: (e as Error).message });
        await sleep(500, life);
        continue;
      }
      if (!alive()) return; // killed while the answer travelled: a crash never releases
      const fence = lease.fence.toString();
      this.emit({ client: this.id, t: 'acquired', fence });
      let lost = false;
      const lostSub = lease.lost$.subscribe({
        error: () => {
          lost = true;
          if (alive()) this.emit({ client: this.id, t: 'lost', fence });
        },
      });
      const keepalive = setInterval(() => {
        if (!this.paused && !lost && alive()) lease.extend().catch(() => undefined);
      }, TTL_MS / 3);
      for (let i = 0; i < 3 && alive(); i++) {
        await sleep(250, life);
        await this.frozen(life);
        if (!alive()) break;
        // A paused holder writes on resume without re-checking: the fence is what saves us.
        const ok = this.store.write(lease.fence);
        this.emit({ client: this.id, t: ok ? 'write' : 'rejected', fence });
      }
      clearInterval(keepalive);
      lostSub.unsubscribe();
      if (!alive()) return;
      await lease.release().then(
        () => this.emit({ client: this.id, t: 'released', fence }),
        () => undefined, // a lost lease: already reported
      );
      await sleep(300 + Math.random() * 300, life);
    }
  }
}

/** Control handle of a running set of contenders. */
export interface Contenders {
  events$: Observable<ContenderEvent>;
  act(client: string, action: 'pause' | 'resume' | 'kill'): void;
}

/**
 * Starts `count` contenders when `events$` is subscribed and stops them on unsubscribe.
 * `locks(id)` gives each client its backend (one shared MemoryLocks, or a client per process).
 */
export function contenders(count: number, locks: (id: string) => LockBackend): Contenders {
  const running = new Map<string, Contender>();
  const events$ = new Observable<ContenderEvent>((subscriber) => {
    const stopped = new AbortController();
    const store = new FencedStore();
    for (let i = 1; i <= count; i++) {
      const id = `c${i}`;
      running.set(
        id,
        new Contender(
          id,
          () => locks(id),
          store,
          (e) => subscriber.next(e),
          stopped.signal,
        ),
      );
    }
    return () => {
      stopped.abort();
      for (const c of running.values()) c.stop();
      running.clear();
    };
  });
  return {
    events$,
    act(client, action) {
      const c = running.get(client);
      if (!c) throw new Error(`no client ${client}`);
      if (action === 'pause') c.pause();
      else if (action === 'resume') c.unpause();
      else c.kill();
    },
  };
}
