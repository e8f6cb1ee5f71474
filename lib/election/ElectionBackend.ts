import type { Observable } from 'rxjs';

/**
 * A candidate's view of its own leadership, as `campaign()` emits it and `whileLeader` reads it.
 * `term` is the term this candidate leads (or last led; `0n` if it never led). Terms strictly
 * increase across leaders of one election, so they serve as fencing tokens.
 */
export interface Leadership {
  readonly isLeader: boolean;
  readonly term: bigint;
}

/**
 * What `campaign()` emits: the {@link Leadership} plus this campaign's identity and the
 * leader-only `proclaim`.
 */
export interface Candidacy extends Leadership {
  /** This campaign's key; equals `Leader.id` while it leads. */
  readonly id: string;
  /**
   * Replaces the value observers see for this leader (etcd `Proclaim`). Rejects with
   * `NotLeaderError` unless this campaign still leads the term it was emitted with.
   */
  proclaim(value: string): Promise<void>;
}

/** The current leader of an election, as `observe()` emits it. */
export interface Leader {
  /** The leader's key (etcd: `<prefix><name>/<lease id hex>`; Redis and memory: a token). */
  readonly id: string;
  /** The candidate string the leader campaigned (or last proclaimed) with. */
  readonly value: string;
  /** Equals the leader's `Leadership.term`; strictly increases across leaders. */
  readonly term: bigint;
}

/** Options of one campaign. */
export interface CampaignOptions {
  /** Lease time to live: how long leadership outlives a silent (crashed, paused) leader. */
  ttlMs?: number;
}

/**
 * What an {@link ElectionBackend}'s `events$` emits for the campaigns of this backend object,
 * discriminated on `type`; `at` is the backend's scheduler time in ms. `lost` is a term that
 * ended without a resignation (lease expired, key deleted, backend unreachable: `error` says
 * which when known); `resigned` a term ended by unsubscribing.
 */
export type ElectionEvent =
  | {
      readonly type: 'elected';
      readonly at: number;
      readonly name: string;
      readonly candidate: string;
      readonly term: bigint;
    }
  | { readonly type: 'resigned'; readonly at: number; readonly name: string; readonly term: bigint }
  | {
      readonly type: 'lost';
      readonly at: number;
      readonly name: string;
      readonly term: bigint;
      readonly error?: unknown;
    };

/**
 * A leader election service: memory, Redis or etcd. Every method is lazy: nothing touches the
 * backend until you subscribe, and unsubscribing releases every key, lease and watch.
 *
 * @example
 * election.campaign('scheduler', 'node-1', { ttlMs: 5_000 }).pipe(
 *   whileLeader((term) => runScheduler(term)),
 * ).subscribe();
 */
export interface ElectionBackend {
  /**
   * Joins the race for `name` on subscribe and resigns on unsubscribe. Emits this candidate's
   * state once it has joined, then on every change: `isLeader` becomes `false` as soon as the
   * leadership can no longer be proven (lease time from the last successful renewal's SEND time
   * has run out), before another candidate can be elected. After a loss the campaign keeps
   * running and may lead again with a higher term. Errors only on bad use or when the backend
   * stays unreachable beyond what the backend documents.
   *
   * ```
   * campaign: --f------t------f--t----   f = {isLeader: false}, t = {isLeader: true, term}
   * ```
   */
  campaign(name: string, candidate: string, options?: CampaignOptions): Observable<Candidacy>;

  /**
   * The leader of `name`: the current one (or `null`) first, then every change, including
   * `null` when no candidate is left and a new value after `proclaim`.
   *
   * ```
   * observe: n--a------b--n--   n = null, a/b = Leader
   * ```
   */
  observe(name: string): Observable<Leader | null>;

  /**
   * Terms won, resigned and lost by this backend's own campaigns: hot, no replay. When nobody
   * subscribes no event is built. Optional so that a backend of your own needs only
   * the methods; every backend in this package has it.
   */
  readonly events$?: Observable<ElectionEvent>;
}
