import { Observable, Subject } from 'rxjs';

/**
 * The end of a lease, shared by every backend's lease class: `lost$` errors once when the lease
 * is lost and completes once when it is released; late subscribers get that final notification
 * at once. Internal.
 */
export class LeaseEnd {
  readonly lost$: Observable<never>;
  private state: 'held' | 'lost' | 'released' = 'held';
  private error: Error | undefined;
  private readonly subject = new Subject<never>();

  constructor() {
    this.lost$ = new Observable<never>((subscriber) => {
      if (this.state === 'lost') subscriber.error(this.error);
      else if (this.state === 'released') subscriber.complete();
      else return this.subject.subscribe(subscriber);
      return undefined;
    });
  }

  get held(): boolean {
    return this.state === 'held';
  }

  get lost(): boolean {
    return this.state === 'lost';
  }

  /** The error `lost$` errored with, once lost. */
  get lostError(): Error | undefined {
    return this.error;
  }

  /** Marks the lease lost and errors `lost$`. Returns false if it had already ended. */
  lose(error: Error): boolean {
    if (this.state !== 'held') return false;
    this.state = 'lost';
    this.error = error;
    this.subject.error(error);
    return true;
  }

  /** Marks the lease released and completes `lost$`. Returns false if it had already ended. */
  release(): boolean {
    if (this.state !== 'held') return false;
    this.state = 'released';
    this.subject.complete();
    return true;
  }
}
