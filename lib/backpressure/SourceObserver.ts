import { Subscription, type Observer } from 'rxjs';

/**
 * An observer that is also a Subscription. `source.subscribe(it)` uses it as the subscriber
 * itself, so a synchronous source (`range(0, 1e9)`) sees `closed` as soon as the output is
 * unsubscribed and stops. Add it to the output subscriber BEFORE subscribing to the source.
 * It unsubscribes from the source before passing on error or complete.
 */
export class SourceObserver<T> extends Subscription implements Observer<T> {
  constructor(private readonly handlers: Observer<T>) {
    super();
  }

  next(value: T): void {
    if (!this.closed) this.handlers.next(value);
  }

  error(err: unknown): void {
    if (this.closed) return;
    this.unsubscribe();
    this.handlers.error(err);
  }

  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    this.handlers.complete();
  }
}
