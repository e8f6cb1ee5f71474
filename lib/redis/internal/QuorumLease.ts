import { BackendUnavailableError } from '../../errors.js';
import { validateMs } from '../../internal/validate.js';
import type { QuorumRedisLocks } from '../QuorumRedisLocks.js';
import { MIN_TTL_MS, TimedLease } from '../TimedLease.js';
import { EXTEND, RELEASE, type QuorumKeys } from './quorumScripts.js';

/** What a quorum acquire round asks for: the lock, its keys, its token and waiter id, the TTL. */
export interface QuorumClaim {
  key: string;
  keys: QuorumKeys;
  token: string;
  /** Its queue entries, dropped by the release. */
  waiterId: string;
  ttlMs: number;
}

/** A quorum lease: extend and release are votes of all servers. */
export class QuorumLease extends TimedLease {
  private readonly keys: QuorumKeys;
  private readonly token: string;
  private readonly waiterId: string;

  constructor(
    private readonly locks: QuorumRedisLocks,
    claim: QuorumClaim,
    fence: bigint,
  ) {
    super(claim.key, fence, claim.ttlMs, locks.scheduler);
    this.keys = claim.keys;
    this.token = claim.token;
    this.waiterId = claim.waiterId;
  }

  async extend(ttlMs: number = this.ttlMs): Promise<void> {
    validateMs('ttlMs', ttlMs, MIN_TTL_MS);
    this.assertHeld();
    const sentAt = this.scheduler.now();
    const votes = await this.locks.vote(
      (runner) => runner.run(EXTEND, this.keys.lock, [this.token, String(ttlMs)]),
      (reply) => reply === 1,
    );
    this.assertHeld();
    if (votes.yes.length < this.locks.majority) {
      if (votes.no.length <= this.locks.spare) throw this.locks.unavailable(votes.errors);
      this.lose('the key no longer holds this lease on a majority of servers');
      throw this.endedError();
    }
    if (!this.confirm(sentAt, ttlMs)) {
      throw new BackendUnavailableError('redis', 'the extend was confirmed past its own validity');
    }
    this.ttlMs = ttlMs;
    this.end.extended();
  }

  protected async doRelease(): Promise<void> {
    this.expireIfDue();
    const wasLost = this.end.lost;
    // Even a lost lease sends the compare-and-delete: it frees only keys still holding our token.
    const votes = this.locks.vote(
      (runner) =>
        runner.run(RELEASE, this.keys.queued, [this.token, this.keys.channel, this.waiterId, '1']),
      (reply) => reply === 1,
    );
    if (wasLost) throw this.endedError();
    const { yes, no, errors } = await votes;
    if (yes.length < this.locks.majority && no.length > this.locks.spare) {
      this.lose('the key no longer holds this lease on a majority of servers');
      throw this.endedError();
    }
    this.finish();
    if (yes.length < this.locks.majority) throw this.locks.unavailable(errors); // keys expire by TTL
  }
}
