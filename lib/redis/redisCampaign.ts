import type { SchedulerLike, Subscriber, Subscription, TeardownLogic } from 'rxjs';
import { v4 as uuid } from 'uuid';
import type { Candidacy } from '../election/ElectionBackend.js';
import type { TermEvents } from '../election/internal/TermEvents.js';
import { SessionExpiredError } from '../errors.js';
import { driftAllowanceMs } from '../internal/LeaseValidity.js';
import { LeaseValidity } from '../internal/LeaseValidity.js';
import { scheduleOnce } from '../internal/scheduler.js';
import type { ElectionChannels } from './ElectionChannels.js';
import {
  CAMPAIGN,
  type ElectionKeys,
  parseLeader,
  parseMessage,
  RENEW,
} from './electionScripts.js';
import type { ScriptRunner } from './ScriptRunner.js';

/** What one campaign needs from its RedisElection. Internal. */
export interface CampaignContext {
  readonly runner: ScriptRunner;
  readonly channels: ElectionChannels;
  readonly scheduler: SchedulerLike;
  readonly keys: ElectionKeys;
  readonly candidate: string;
  readonly ttlMs: number;
  /** The election's `events$` for this campaign's name and candidate. */
  readonly events: TermEvents;
  candidacy(token: string, isLeader: boolean, term: bigint): Candidacy;
  /** Compare-and-delete of the leader key, best effort (it expires anyway). */
  resign(token: string): void;
}

/**
 * The subscribe function of `RedisElection.campaign`: all state is this subscription's (one
 * {@link CampaignRun} per subscriber).
 *
 * - Leadership is a {@link LeaseValidity}: proven from the SEND time of the winning CAMPAIGN and
 *   of each confirmed RENEW, minus the drift allowance, re-armed when its timer fires early. It
 *   is the only way a leader decides it lost (besides Redis saying the key is not ours), so
 *   `isLeader: false` comes before Redis can expire the key and let another candidate win.
 * - Every call goes through the election's ScriptRunner, under its deadline. A failed attempt
 *   (Redis down, no reply in time) emits this candidate's state, `isLeader: false`, and tries
 *   again a third of the TTL later: a campaign is long-lived, so like EtcdElection it rides out
 *   an outage and leads again once Redis answers, instead of ending with an error.
 * - A follower tries again when a leader resigns (a '' message), when the leader's key would
 *   expire (a crashed leader publishes nothing) and when the subscription is re-established.
 * - `events$`: `elected` just before the `isLeader: true` emission, `lost` (a
 *   `SessionExpiredError`) just before the `isLeader: false` one, `resigned` on unsubscribe.
 */
export function subscribeCampaign(
  ctx: CampaignContext,
  subscriber: Subscriber<Candidacy>,
): TeardownLogic {
  return new CampaignRun(ctx, subscriber).start();
}

/** One subscription's campaign. */
class CampaignRun {
  private closed = false;
  private token = uuid();
  private leading = false;
  private term = 0n;
  private validity: LeaseValidity | undefined;
  private emitted: { isLeader: boolean; term: bigint } | undefined;
  private attempting = false;
  /** An attempt with `token` failed without a reply: it may have won on the server all the same. */
  private unsure = false;
  private again = false;
  private recheck: Subscription | undefined;
  private renewal: Subscription | undefined;
  /** Why the last renewal got no answer: the cause of a `lost` when validity then runs out. */
  private renewError: unknown;

  constructor(
    private readonly ctx: CampaignContext,
    private readonly subscriber: Subscriber<Candidacy>,
  ) {}

  start(): TeardownLogic {
    const unlisten = this.ctx.channels.listen(this.ctx.keys.channel, {
      message: (text) => {
        if (parseMessage(text)?.kind === 'vacant') this.attempt();
      },
      resync: this.attempt,
    });
    this.attempt(); // at once, not after SUBSCRIBE: a dead Redis must not leave the campaign silent
    return () => {
      this.closed = true;
      // isValid() runs lose() (a `lost` event) if validity ran out before this unsubscribe.
      if (this.leading && this.validity!.isValid()) this.ctx.events.resigned(this.term);
      this.recheck?.unsubscribe();
      this.renewal?.unsubscribe();
      this.validity?.disarm();
      unlisten();
      if (this.leading || this.attempting || this.unsure) this.ctx.resign(this.token);
    };
  }

  private emit(): void {
    const { leading, term } = this;
    if (this.closed || (this.emitted?.isLeader === leading && this.emitted.term === term)) return;
    this.emitted = { isLeader: leading, term };
    this.subscriber.next(this.ctx.candidacy(this.token, leading, term));
  }

  private scheduleRecheck(delayMs: number): void {
    this.recheck?.unsubscribe();
    const delay = Math.min(Math.max(1, delayMs), this.ctx.ttlMs);
    this.recheck = scheduleOnce(this.ctx.scheduler, delay, this.attempt);
  }

  private scheduleRenewal(): void {
    this.renewal = scheduleOnce(this.ctx.scheduler, Math.floor(this.ctx.ttlMs / 3), this.renew);
  }

  /** Leadership can no longer be proven: say so first, then clean up and run again. */
  private readonly lose = (why: () => SessionExpiredError = this.expired): void => {
    if (!this.leading) return;
    this.leading = false;
    this.validity?.disarm();
    this.renewal?.unsubscribe();
    this.ctx.events.lost(this.term, why);
    this.emit();
    this.ctx.resign(this.token);
    this.token = uuid();
    this.attempt();
  };

  private readonly renew = (): void => {
    const proof = this.validity!;
    // isValid() runs lose() once validity has run out.
    if (this.closed || !this.leading || !proof.isValid()) return;
    const { runner, scheduler, keys, ttlMs } = this.ctx;
    const sentAt = scheduler.now();
    const renewing = this.token;
    runner.run(RENEW, [keys.leader], [renewing, String(ttlMs)]).then(
      (ok) => {
        if (this.closed || !this.leading || this.token !== renewing) return;
        if (ok !== 1) return this.lose(this.taken); // the key is gone or someone else's
        this.renewError = undefined;
        proof.confirm(sentAt, ttlMs); // a reply too late to prove anything changes nothing
      },
      (e: unknown) => void (this.renewError = e), // the validity timer decides
    );
    this.scheduleRenewal();
  };

  private readonly taken = (): SessionExpiredError => {
    const { keys } = this.ctx;
    return new SessionExpiredError(`leader key ${keys.leader} of term ${this.term} is gone`);
  };

  private readonly expired = (): SessionExpiredError => {
    const { keys, ttlMs } = this.ctx;
    const message = `leadership of ${keys.leader} term ${this.term}: no renewal confirmed within the TTL less ${driftAllowanceMs(ttlMs)} ms`;
    return new SessionExpiredError(message, { cause: this.renewError });
  };

  private win(sentAt: number, raw: string, trying: string): void {
    const proof = new LeaseValidity(this.ctx.scheduler, this.lose);
    if (!proof.confirm(sentAt, this.ctx.ttlMs)) {
      // The reply came after the validity it could prove: that leadership was never provable.
      this.ctx.resign(trying);
      this.token = uuid();
      return this.scheduleRecheck(1);
    }
    this.leading = true;
    this.term = parseLeader(raw)!.term;
    this.validity = proof;
    this.renewError = undefined;
    this.recheck?.unsubscribe();
    proof.arm();
    this.scheduleRenewal();
    this.ctx.events.elected(this.term);
    this.emit();
  }

  private readonly attempt = (): void => {
    if (this.closed || this.leading) return;
    if (this.attempting) {
      this.again = true;
      return;
    }
    this.attempting = true;
    this.again = false;
    const { runner, scheduler, keys, ttlMs, candidate } = this.ctx;
    const sentAt = scheduler.now();
    const trying = this.token;
    const args = [trying, candidate, String(ttlMs), keys.channel];
    runner.run(CAMPAIGN, [keys.leader, keys.term, keys.log], args).then(
      (reply) => this.answered(reply as [number, string, number], sentAt, trying),
      () => this.failed(),
    );
  };

  private answered([won, raw, pttl]: [number, string, number], sentAt: number, trying: string) {
    this.attempting = false;
    this.unsure = false;
    if (this.closed || this.token !== trying) {
      if (won === 1) this.ctx.resign(trying); // a late win nobody waits for
      return;
    }
    if (won === 1) return this.win(sentAt, raw, trying);
    this.emit();
    this.scheduleRecheck(pttl > 0 ? pttl + 1 : this.ctx.ttlMs);
    if (this.again) this.attempt();
  }

  private failed(): void {
    this.attempting = false;
    if (this.closed) return;
    // The attempt may still land (queued while Redis was away): keep its token, so the next
    // attempt takes such a late win back and teardown resigns it.
    this.unsure = true;
    this.emit(); // within the call deadline: a campaign against a dead Redis says it does not lead
    this.scheduleRecheck(Math.floor(this.ctx.ttlMs / 3));
  }
}
