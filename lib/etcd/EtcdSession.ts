import { ClientClosedError } from 'etcd3';
import type {
  IDuplexStream,
  ILeaseKeepAliveRequest,
  ILeaseKeepAliveResponse,
  Namespace,
} from 'etcd3';
import { Observable, Subject, type SchedulerLike, type Subscription } from 'rxjs';
import { BackendUnavailableError, SessionExpiredError } from '../errors.js';
import { driftAllowanceMs, LeaseValidity } from '../internal/LeaseValidity.js';
import { resolveScheduler, scheduleOnce } from '../internal/scheduler.js';
import { validateInteger, validateMs, validateOptions } from '../internal/validate.js';
import { isClientClosed, onClientClose } from './clientClosed.js';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  isLeaseNotFound,
  MAX_TTL_SECONDS,
  toEtcdError,
  validateEtcdClient,
  unaryDeadline,
} from './etcdCall.js';
import { keepAliveCallOptions } from './requireLeader.js';

/** Options of {@link EtcdSession.create}. */
export interface EtcdSessionConfig {
  /** Lease TTL in whole seconds (integer >= 1). Default 60, as etcd's Go `concurrency.NewSession`. */
  ttlSeconds?: number;
  /** Deadline of each unary call the session makes (grant, revoke), in ms. Default 5000. */
  callTimeoutMs?: number;
  /** Clock and timers for the keepalive loop and the expiry check. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/** `'alive'` while the lease is proven valid; `'lost'` once it expired or was revoked; `'closed'` after {@link EtcdSession.close}. */
export type EtcdSessionState = 'alive' | 'lost' | 'closed';

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

interface PendingKeepAlive {
  /** Scheduler time when the keepalive was written: validity counts from here, not from the answer. */
  sentAt: number;
  settle?: (error?: Error) => void;
}

/** Delay before a broken keepalive stream is reopened. */
const REOPEN_DELAY_MS = 100;

/**
 * A lease-backed session, as etcd's Go `concurrency.Session`: grants a lease with a TTL and keeps
 * it alive (a keepalive every TTL/3 on one gRPC stream, reopened when it breaks) until
 * {@link close} revokes it. Everything a session owns (lock keys, election keys) is put with its
 * lease, so etcd deletes it when the session dies.
 *
 * Validity is judged by the one lease rule of this package ({@link LeaseValidity}): each
 * keepalive answered with TTL `t` proves the lease alive until (time the keepalive was SENT) + `t`
 * − {@link driftAllowanceMs}(`t`) (1 % + 2 ms, for a local clock up to 1 % slow or timers firing
 * early), and an answer that arrives after that moment proves nothing. When that moment passes
 * with no newer proof (checked by a timer and by every {@link state} read), or etcd answers that
 * the lease is gone, the session is lost: {@link lost$} errors with `SessionExpiredError`,
 * {@link done} resolves and the keepalive stops.
 *
 * ```
 * keepalive:  k----k----k----k-----------x   (x: no confirmed keepalive for TTL)
 * lost$:      ---------------------------#   SessionExpiredError
 * ```
 *
 * @example
 * const client = new Etcd3({ hosts, dialTimeout: 2000 });
 * const session = await EtcdSession.create(client, { ttlSeconds: 10 });
 * await client.put(`svc/${session.leaseIdHex}`).value('up').lease(session.leaseId);
 * session.lost$.subscribe({ error: (e) => console.error('session lost', e) });
 * await session.close(); // revokes the lease: etcd deletes svc/<lease>
 */
export class EtcdSession {
  /** The lease ID as etcd3 spells it (a decimal string); pass it to `put(...).lease(id)`. */
  readonly leaseId: string;
  /** The lease ID in lower-case hex without padding, as etcd's Go client formats it in keys (`%x`). */
  readonly leaseIdHex: string;
  /** The TTL etcd granted, in seconds. */
  readonly ttlSeconds: number;
  /**
   * Never emits. Errors with `SessionExpiredError` when the lease is lost (expired, revoked, or
   * not provably alive any more); completes when the session is closed. Late subscribers get the
   * final notification at once.
   */
  readonly lost$: Observable<never>;
  /** Resolves when the session ends, whether lost or closed (Go's `Session.Done()`). Never rejects. */
  readonly done: Promise<void>;

  private currentState: EtcdSessionState = 'alive';
  private readonly validity: LeaseValidity;
  private lostError: SessionExpiredError | undefined;
  private readonly lostSubject = new Subject<never>();
  private resolveDone!: () => void;
  private stream: KeepAliveStream | undefined;
  private opening = false;
  private pending: PendingKeepAlive[] = [];
  /** `keepAliveOnce` callers waiting for the stream to (re)open. */
  private waitingForStream: ((error?: Error) => void)[] = [];
  private tick: Subscription | undefined;
  private reopen: Subscription | undefined;
  private closing: Promise<void> | undefined;
  private readonly offClientClose: () => void;

  /**
   * Grants a lease and starts keeping it alive. Rejects with `BackendUnavailableError` when etcd
   * cannot be reached within `callTimeoutMs` (and the client's `dialTimeout`).
   */
  static async create(client: Namespace, config?: EtcdSessionConfig): Promise<EtcdSession> {
    validateEtcdClient(client);
    const options = validateOptions('config', config, ['ttlSeconds', 'callTimeoutMs', 'scheduler']);
    const ttlSeconds = validateInteger('ttlSeconds', options.ttlSeconds ?? 60, 1, {
      max: MAX_TTL_SECONDS,
    });
    const callTimeoutMs = validateMs(
      'callTimeoutMs',
      options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      1,
    );
    const scheduler = resolveScheduler(options.scheduler);
    const sentAt = scheduler.now();
    let granted: { ID: string; TTL: string };
    try {
      granted = await client.leaseClient.leaseGrant(
        { TTL: ttlSeconds },
        unaryDeadline(callTimeoutMs),
      );
    } catch (e) {
      throw toEtcdError(e, 'lease grant');
    }
    const session = new EtcdSession(client, granted, sentAt, callTimeoutMs, scheduler);
    if (session.state !== 'alive') {
      // The grant was answered after its own validity ended (a long pause): nothing is proven.
      await client.leaseClient
        .leaseRevoke({ ID: granted.ID }, unaryDeadline(callTimeoutMs))
        .catch(() => undefined);
      throw session.endedError();
    }
    return session;
  }

  private constructor(
    private readonly client: Namespace,
    granted: { ID: string; TTL: string },
    grantSentAt: number,
    private readonly callTimeoutMs: number,
    private readonly scheduler: SchedulerLike,
  ) {
    this.leaseId = granted.ID;
    this.leaseIdHex = BigInt(granted.ID).toString(16);
    this.ttlSeconds = Number(granted.TTL);
    this.validity = new LeaseValidity(scheduler, () =>
      this.lose(`no keepalive confirmed within the TTL less ${driftAllowanceMs(this.ttlMs)} ms`),
    );
    this.done = new Promise<void>((resolve) => (this.resolveDone = resolve));
    this.lost$ = new Observable<never>((subscriber) => {
      if (this.currentState === 'lost') subscriber.error(this.lostError);
      else if (this.currentState === 'closed') subscriber.complete();
      else return this.lostSubject.subscribe(subscriber);
      return undefined;
    });
    // A closed client cannot revoke or renew: the lease is lost (etcd expires it within its TTL).
    this.offClientClose = onClientClose(client, () => this.lose('the etcd3 client was closed'));
    this.validity.confirm(grantSentAt, this.ttlMs);
    this.validity.arm();
    this.scheduleTick();
    this.openStream();
  }

  /**
   * Where the session stands now. Reads the clock: a session whose proven validity ran out is
   * lost here and now, even if its expiry timer has not run yet (a busy event loop).
   */
  get state(): EtcdSessionState {
    if (this.currentState === 'alive') this.validity.isValid();
    return this.currentState;
  }

  /**
   * Scheduler time (ms) until which the lease is proven alive by the last confirmed keepalive:
   * its send time + TTL − the drift allowance.
   */
  get expiresAt(): number {
    return this.validity.validUntil;
  }

  private get ttlMs(): number {
    return this.ttlSeconds * 1000;
  }

  /**
   * Sends a keepalive now and resolves once etcd confirmed it (moving {@link expiresAt} forward).
   * Rejects with `SessionExpiredError` if the lease is gone, `BackendUnavailableError` if the
   * keepalive stream breaks or no answer comes within `callTimeoutMs`.
   */
  keepAliveOnce(): Promise<void> {
    if (this.state !== 'alive') return Promise.reject(this.endedError());
    return new Promise<void>((resolve, reject) => {
      const timer = scheduleOnce(this.scheduler, this.callTimeoutMs, () =>
        settle(new BackendUnavailableError('etcd', 'etcd keepalive not answered in time')),
      );
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        timer.unsubscribe();
        if (error === undefined) resolve();
        else reject(error);
      };
      if (this.stream) this.send(settle);
      else {
        this.waitingForStream.push(settle);
        this.openStream();
      }
    });
  }

  /**
   * Stops the keepalive and revokes the lease, so etcd deletes every key put with it. Idempotent.
   * Rejects with `BackendUnavailableError` if the revoke cannot reach etcd (the lease then simply
   * expires after its TTL); the session is closed either way.
   */
  close(): Promise<void> {
    this.closing ??= this.revoke();
    return this.closing;
  }

  private async revoke(): Promise<void> {
    const wasLost = this.currentState === 'lost';
    this.end('closed');
    if (wasLost) return;
    try {
      await this.client.leaseClient.leaseRevoke(
        { ID: this.leaseId },
        unaryDeadline(this.callTimeoutMs),
      );
    } catch (e) {
      // A closed client cannot revoke; the lease simply expires, as after a lost one.
      if (isLeaseNotFound(e) || e instanceof ClientClosedError || isClientClosed(this.client))
        return;
      throw toEtcdError(e, 'lease revoke');
    }
  }

  private endedError(): SessionExpiredError {
    return this.lostError ?? new SessionExpiredError(`etcd session ${this.leaseIdHex} is closed`);
  }

  private lose(reason: string): void {
    if (this.currentState !== 'alive') return;
    this.lostError = new SessionExpiredError(`etcd session ${this.leaseIdHex} lost: ${reason}`);
    this.end('lost');
  }

  /** Tears everything down, then notifies (state first, so re-entrant callers see the end). */
  private end(state: 'lost' | 'closed'): void {
    if (this.currentState !== 'alive') {
      if (state === 'closed') this.currentState = 'closed';
      return;
    }
    this.currentState = state;
    this.tick?.unsubscribe();
    this.validity.disarm();
    this.offClientClose();
    this.reopen?.unsubscribe();
    const stream = this.stream;
    this.stream = undefined;
    stream?.end();
    const error = this.endedError();
    const settles = [...this.pending.map((p) => p.settle), ...this.waitingForStream];
    this.pending = [];
    this.waitingForStream = [];
    for (const settle of settles) settle?.(error);
    if (state === 'lost') this.lostSubject.error(error);
    else this.lostSubject.complete();
    this.resolveDone();
  }

  private scheduleTick(): void {
    const interval = Math.max(1, Math.floor((this.ttlSeconds * 1000) / 3));
    this.tick = scheduleOnce(this.scheduler, interval, () => {
      if (this.currentState !== 'alive') return;
      if (isClientClosed(this.client)) return this.lose('the etcd3 client was closed');
      if (this.stream) this.send();
      else this.openStream();
      this.scheduleTick();
    });
  }

  private openStream(): void {
    if (this.opening || this.stream || this.currentState !== 'alive') return;
    this.opening = true;
    // hasleader, as Go's lease client: a member without a Raft leader fails the stream (at once,
    // or after 3 election timeouts) instead of leaving it hanging, so it is reopened elsewhere.
    this.client.leaseClient.leaseKeepAlive(keepAliveCallOptions(this.client)).then(
      (stream) => {
        this.opening = false;
        stream.on('error', (e: Error) => this.broken(stream, e));
        stream.on('end', () => this.broken(stream));
        if (this.currentState !== 'alive') {
          stream.end();
          return;
        }
        this.stream = stream;
        stream.on('data', (res) => this.answered(stream, res));
        const waiting = this.waitingForStream;
        this.waitingForStream = [];
        this.send();
        for (const settle of waiting) this.send(settle);
      },
      () => {
        this.opening = false;
        this.scheduleReopen();
      },
    );
  }

  private scheduleReopen(): void {
    if (this.currentState !== 'alive') return;
    this.reopen?.unsubscribe();
    this.reopen = scheduleOnce(this.scheduler, REOPEN_DELAY_MS, () => this.openStream());
  }

  private send(settle?: (error?: Error) => void): void {
    const stream = this.stream!;
    this.pending.push({ sentAt: this.scheduler.now(), settle });
    stream.write({ ID: this.leaseId });
  }

  private answered(stream: KeepAliveStream, res: ILeaseKeepAliveResponse): void {
    if (stream !== this.stream) return;
    const keepalive = this.pending.shift();
    const ttl = Number(res.TTL);
    if (ttl <= 0) {
      this.lose('etcd reports the lease expired or revoked');
      keepalive?.settle?.(this.endedError());
      return;
    }
    if (keepalive === undefined) return;
    if (this.validity.confirm(keepalive.sentAt, ttl * 1000)) return keepalive.settle?.();
    // Answered after the proof it carries ran out, so the older ones have too: lost.
    this.validity.isValid();
    keepalive.settle?.(this.endedError());
  }

  private broken(stream: KeepAliveStream, cause?: Error): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    const settles = this.pending.map((p) => p.settle);
    this.pending = [];
    const error = new BackendUnavailableError(
      'etcd',
      `etcd keepalive stream broke${cause ? `: ${cause.message}` : ''}`,
      { cause },
    );
    for (const settle of settles) settle?.(error);
    this.scheduleReopen();
  }
}
