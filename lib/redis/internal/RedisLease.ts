import type { SchedulerLike, Subscription } from 'rxjs';
import { BackendUnavailableError } from '../../errors.js';
import { scheduleOnce } from '../../internal/scheduler.js';
import { validateMs } from '../../internal/validate.js';
import type { ScriptRunner } from '../ScriptRunner.js';
import { MIN_TTL_MS, TimedLease } from '../TimedLease.js';
import { SCRIPTS, type LockKeys } from './singleScripts.js';

/** What an acquire asks for: the lock, its Redis keys, the token it sets, and the lease TTL. */
export interface RedisClaim {
  key: string;
  lockKeys: LockKeys;
  token: string;
  ttlMs: number;
}

/** A lease on one Redis: extend is compare-and-pexpire, release compare-and-delete (or hand-off). */
export class RedisLease extends TimedLease {
  private readonly lockKeys: LockKeys;
  private readonly token: string;

  constructor(
    private readonly runner: ScriptRunner,
    target: RedisClaim,
    fence: bigint,
    scheduler: SchedulerLike,
  ) {
    super(target.key, fence, target.ttlMs, scheduler);
    this.lockKeys = target.lockKeys;
    this.token = target.token;
  }

  /**
   * A handed-off lease starts with a short key TTL: extend it to the full ttl after `delayMs`,
   * unless it is released or extended before (short holds never pay for it).
   */
  claimLater(delayMs: number): void {
    this.claim = scheduleOnce(this.scheduler, delayMs, () => {
      this.claim = undefined;
      if (this.end.held) this.extend().catch(() => undefined); // failures surface in lost$
    });
  }

  private claim: Subscription | undefined;

  protected override lose(reason: string): void {
    this.claim?.unsubscribe(); // a lost lease has nothing to claim
    super.lose(reason);
  }

  async extend(ttlMs: number = this.ttlMs): Promise<void> {
    validateMs('ttlMs', ttlMs, MIN_TTL_MS);
    this.claim?.unsubscribe();
    this.assertHeld();
    const sentAt = this.scheduler.now();
    const ok = await this.runner.run(SCRIPTS.extend, this.lockKeys.keys, [
      this.token,
      String(ttlMs),
    ]);
    this.assertHeld();
    if (ok !== 1) {
      this.lose('the key no longer holds this lease (expired or deleted)');
      throw this.endedError();
    }
    if (!this.confirm(sentAt, ttlMs)) {
      throw new BackendUnavailableError('redis', 'the extend was confirmed past its own validity');
    }
    this.ttlMs = ttlMs;
    this.end.extended();
  }

  protected async doRelease(): Promise<void> {
    this.claim?.unsubscribe();
    this.expireIfDue();
    const wasLost = this.end.lost;
    // Even a lost lease sends the compare-and-delete: it frees the key only if it is still ours.
    const releasing = this.runner.run(SCRIPTS.release, this.lockKeys.keys, [this.token]);
    if (wasLost) {
      releasing.catch(() => undefined);
      throw this.endedError();
    }
    let ok: unknown;
    try {
      ok = await releasing;
    } catch (e) {
      this.finish(); // the key expires after its TTL
      throw e;
    }
    if (ok !== 1) {
      this.lose('the key no longer holds this lease (expired or deleted)');
      throw this.endedError();
    }
    this.finish();
  }
}
