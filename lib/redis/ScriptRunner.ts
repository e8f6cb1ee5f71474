import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { SchedulerLike, Subscription } from 'rxjs';
import { BackendUnavailableError } from '../errors.js';
import { scheduleOnce } from '../internal/scheduler.js';
import { toRedisError } from './redisErrors.js';

/** A Lua script and the SHA1 that EVALSHA names it by. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

/** Pairs a Lua source with its SHA1. */
export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** A call in flight, failed by the deadline sweep if no reply comes in time. */
interface InflightCall {
  sentAt: number;
  fail(error: Error): void;
}

/**
 * Runs a fixed set of Lua scripts on one Redis (or every master of a Cluster) under a deadline
 * per call. Internal.
 *
 * - The scripts are loaded (SCRIPT LOAD) before the first call, because an EVALSHA that falls
 *   back to EVAL after NOSCRIPT would be overtaken by the next command on the connection (an undo
 *   queued behind the call it undoes). After a script flush (restart, failover) the fallback runs
 *   and the scripts are loaded again. Once loaded, the command is written before `run` returns,
 *   so calls reach the server in the order `run` was called.
 * - Deadlines cost no timer per call: one sweep, due at the oldest call's deadline, fails every
 *   call older than `commandTimeoutMs` with `BackendUnavailableError`; it stops when the last
 *   call in flight settles, so an idle runner holds no timer.
 * - Failures are mapped by `toRedisError` (transient ones become `BackendUnavailableError`).
 *
 * @example
 * const runner = new ScriptRunner(redis, [GET_SCRIPT], 2000, asyncScheduler);
 * const value = await runner.run(GET_SCRIPT, ['k'], []);
 */
export class ScriptRunner {
  /** true once the scripts are loaded; the loading promise meanwhile. */
  private loaded: Promise<void> | true | undefined;
  private readonly inflight = new Set<InflightCall>();
  private sweeper: Subscription | undefined;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly scripts: readonly LuaScript[],
    private readonly commandTimeoutMs: number,
    private readonly scheduler: SchedulerLike,
  ) {}

  /** EVALSHA `script` with `keys` and `args`; rejects after `commandTimeoutMs` without a reply. */
  run(script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const call: InflightCall = { sentAt: this.scheduler.now(), fail: reject };
      this.inflight.add(call);
      this.sweeper ??= scheduleOnce(this.scheduler, this.commandTimeoutMs, this.sweep);
      const onReply = (reply: unknown) => {
        if (this.settle(call)) resolve(reply);
      };
      const onError = (e: unknown) => {
        if (this.settle(call)) reject(toRedisError(e, 'call'));
      };
      if (this.loaded === true) this.send(script, keys, args).then(onReply, onError);
      else {
        this.loaded ??= this.load();
        this.loaded.then(() => this.send(script, keys, args)).then(onReply, onError);
      }
    });
  }

  /** Stops the deadline timer once no call is in flight (calls in flight keep their deadline). */
  close(): void {
    if (this.inflight.size > 0) return;
    this.sweeper?.unsubscribe();
    this.sweeper = undefined;
  }

  /**
   * Takes `call` out of flight (false if the sweep failed it already) and, when it was the last,
   * stops the deadline timer: a lingering sweep would keep an idle process alive for up to
   * `commandTimeoutMs` after it released everything and quit its client.
   */
  private settle(call: InflightCall): boolean {
    if (!this.inflight.delete(call)) return false;
    this.close();
    return true;
  }

  private readonly sweep = () => {
    this.sweeper = undefined;
    const now = this.scheduler.now();
    for (const call of this.inflight) {
      if (call.sentAt > now) call.sentAt = now; // the clock went back: restart its deadline
      const left = call.sentAt + this.commandTimeoutMs - now;
      if (left > 0) {
        this.sweeper = scheduleOnce(this.scheduler, left, this.sweep);
        return;
      }
      this.inflight.delete(call);
      call.fail(
        new BackendUnavailableError(
          'redis',
          `redis gave no reply within ${this.commandTimeoutMs} ms`,
        ),
      );
    }
  };

  private send(script: LuaScript, keys: readonly string[], args: readonly string[]) {
    return this.redis.evalsha(script.sha, keys.length, ...keys, ...args).catch((e: unknown) => {
      if (!(e instanceof Error && e.message.startsWith('NOSCRIPT'))) throw e;
      this.loaded = undefined;
      return this.redis.eval(script.source, keys.length, ...keys, ...args);
    });
  }

  private load(): Promise<void> {
    const targets: (Redis | Cluster)[] =
      'isCluster' in this.redis && this.redis.isCluster
        ? (this.redis as Cluster).nodes('master')
        : [this.redis];
    const loading: Promise<void> = Promise.all(
      targets.flatMap((node) => this.scripts.map((s) => node.script('LOAD', s.source))),
    ).then(() => {
      if (this.loaded === loading) this.loaded = true;
    });
    loading.catch(() => {
      if (this.loaded === loading) this.loaded = undefined;
    });
    return loading;
  }
}
