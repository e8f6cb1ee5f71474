import type { SchedulerLike, Subscriber, Subscription, TeardownLogic } from 'rxjs';
import { v4 as uuid } from 'uuid';
import type { Candidacy } from '../election/ElectionBackend.js';
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
  candidacy(token: string, isLeader: boolean, term: bigint): Candidacy;
  /** Compare-and-delete of the leader key, best effort (it expires anyway). */
  resign(token: string): void;
}

/**
 * The subscribe function of `RedisElection.campaign`: all state is this subscription's.
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
 */
export function subscribeCampaign(
  ctx: CampaignContext,
  subscriber: Subscriber<Candidacy>,
): TeardownLogic {
  const { runner, scheduler, keys, ttlMs } = ctx;
  let closed = false;
  let token = uuid();
  let leading = false;
  let term = 0n;
  let validity: LeaseValidity | undefined;
  let emitted: { isLeader: boolean; term: bigint } | undefined;
  let attempting = false;
  /** An attempt with `token` failed without a reply: it may have won on the server all the same. */
  let unsure = false;
  let again = false;
  let recheck: Subscription | undefined;
  let renewal: Subscription | undefined;

  const emit = () => {
    if (closed || (emitted?.isLeader === leading && emitted.term === term)) return;
    emitted = { isLeader: leading, term };
    subscriber.next(ctx.candidacy(token, leading, term));
  };
  const scheduleRecheck = (delayMs: number) => {
    recheck?.unsubscribe();
    recheck = scheduleOnce(scheduler, Math.min(Math.max(1, delayMs), ttlMs), attempt);
  };
  /** Leadership can no longer be proven: say so first, then clean up and run again. */
  const lose = () => {
    if (!leading) return;
    leading = false;
    validity?.disarm();
    renewal?.unsubscribe();
    emit();
    ctx.resign(token);
    token = uuid();
    attempt();
  };
  const renew = () => {
    if (closed || !leading || !validity!.isValid()) return; // isValid() runs lose() once run out
    const sentAt = scheduler.now();
    const renewing = token;
    const proof = validity!;
    runner.run(RENEW, [keys.leader], [renewing, String(ttlMs)]).then(
      (ok) => {
        if (closed || !leading || token !== renewing) return;
        if (ok !== 1) return lose(); // the key is gone or someone else's
        proof.confirm(sentAt, ttlMs); // a reply too late to prove anything changes nothing
      },
      () => undefined, // the validity timer decides
    );
    renewal = scheduleOnce(scheduler, Math.floor(ttlMs / 3), renew);
  };
  const win = (sentAt: number, raw: string, trying: string) => {
    const proof = new LeaseValidity(scheduler, lose);
    if (!proof.confirm(sentAt, ttlMs)) {
      // The reply came after the validity it could prove: that leadership was never provable.
      ctx.resign(trying);
      token = uuid();
      return scheduleRecheck(1);
    }
    leading = true;
    term = parseLeader(raw)!.term;
    validity = proof;
    recheck?.unsubscribe();
    proof.arm();
    renewal = scheduleOnce(scheduler, Math.floor(ttlMs / 3), renew);
    emit();
  };
  const attempt = (): void => {
    if (closed || leading) return;
    if (attempting) {
      again = true;
      return;
    }
    attempting = true;
    again = false;
    const sentAt = scheduler.now();
    const trying = token;
    const args = [trying, ctx.candidate, String(ttlMs), keys.channel];
    runner.run(CAMPAIGN, [keys.leader, keys.term, keys.log], args).then(
      (reply) => {
        attempting = false;
        unsure = false;
        const [won, raw, pttl] = reply as [number, string, number];
        if (closed || token !== trying) {
          if (won === 1) ctx.resign(trying); // a late win nobody waits for
          return;
        }
        if (won === 1) return win(sentAt, raw, trying);
        emit();
        scheduleRecheck(pttl > 0 ? pttl + 1 : ttlMs);
        if (again) attempt();
      },
      () => {
        attempting = false;
        if (closed) return;
        // The attempt may still land (queued while Redis was away): keep its token, so the next
        // attempt takes such a late win back and teardown resigns it.
        unsure = true;
        emit(); // within the call deadline: a campaign against a dead Redis says it does not lead
        scheduleRecheck(Math.floor(ttlMs / 3));
      },
    );
  };

  const unlisten = ctx.channels.listen(keys.channel, {
    message: (text) => {
      if (parseMessage(text)?.kind === 'vacant') attempt();
    },
    resync: attempt,
  });
  attempt(); // at once, not after SUBSCRIBE: a dead Redis must not leave the campaign silent
  return () => {
    closed = true;
    recheck?.unsubscribe();
    renewal?.unsubscribe();
    validity?.disarm();
    unlisten();
    if (leading || attempting || unsure) ctx.resign(token);
  };
}
