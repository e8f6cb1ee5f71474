import { Observable, type Subscriber } from 'rxjs';

/** One change to a {@link ReactiveMap}. `version` strictly increases across all changes. */
export interface MapChange<K, V> {
  /** `'add'`: the key was absent; `'update'`: it held another value; `'delete'`: it was removed. */
  readonly type: 'add' | 'update' | 'delete';
  readonly key: K;
  /** The value after the change (`undefined` for `'delete'`). */
  readonly value: V | undefined;
  /** The value before the change (`undefined` for `'add'`). */
  readonly previous: V | undefined;
  readonly version: number;
}

interface Listener<K, V> {
  /** Subscription order across all listeners: one change reaches them in this order. */
  readonly order: number;
  /** Changes with a version <= this happened before the listener subscribed. */
  readonly fromVersion: number;
  /** A `watch` gets the value only, a `changes$` subscriber the whole change. */
  readonly valueOnly: boolean;
  readonly subscriber: Subscriber<MapChange<K, V>> | Subscriber<V | undefined>;
  /** Cleared on unsubscribe, so a listener already picked for delivery is skipped. */
  active: boolean;
}

/**
 * Go's `sync.Map` for one thread (one page or process), observable: every mutation is applied
 * at once and announced on `changes$`, and `watch(key)` follows one key. An operation that
 * changes nothing (storing the value already there, deleting an absent key, a failed
 * compare-and-swap) emits nothing and does not bump the version.
 *
 * Every subscriber sees every change in the same order. A subscriber that mutates the map inside
 * its callback does not interleave: the new change is applied at once (so `load` sees it) but is
 * delivered only after the current change has reached every subscriber (a drain loop, not
 * recursion). Values are compared with `Object.is`, keys as `Map` does.
 *
 * A change is handed to the watchers of its key and to the `changes$` subscribers, in the order
 * they subscribed, and to nobody else: watchers of other keys cost it nothing. A listener that
 * unsubscribes another during a delivery stops that one's deliveries at once (as an RxJS
 * `Subject` does); one that subscribes starts after the change being delivered.
 *
 * ```
 * store('a',1)  store('a',1)  store('a',2)  delete('a')
 * changes$: --{add a 1 v1}----------{update a 2 v2}--{delete a v3}--
 * watch('a'): u--1-----------------2-----------------u--          (u = undefined)
 * ```
 *
 * @example
 * const prices = new ReactiveMap<string, number>();
 * prices.watch('BTC').subscribe((p) => render(p));
 * prices.store('BTC', 97_000);
 * if (!prices.compareAndSwap('BTC', 97_000, 98_000)) console.log('someone else moved it');
 */
export class ReactiveMap<K, V> {
  readonly #entries = new Map<K, V>();
  /** `changes$` subscribers. */
  readonly #all = new Set<Listener<K, V>>();
  /** `watch` subscribers per key; a key's set exists only while it has one. */
  readonly #byKey = new Map<K, Set<Listener<K, V>>>();
  #subscriptions = 0;
  /** Changes applied but not yet delivered to every listener. */
  readonly #pending: MapChange<K, V>[] = [];
  #draining = false;
  #version = 0;

  /** Every change from subscription on (no replay of earlier ones). */
  readonly changes$: Observable<MapChange<K, V>> = new Observable((subscriber) =>
    this.#listen(this.#all, false, subscriber),
  );

  /**
   * @param entries Initial `[key, value]` pairs (any iterable of them, e.g. a `Map`); checked
   * here, so a wrong argument fails with a TypeError naming it rather than deep in iteration.
   */
  constructor(entries?: Iterable<readonly [K, V]> | null) {
    if (entries === undefined || entries === null) return;
    if (typeof (entries as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function') {
      throw new TypeError(
        `entries must be an iterable of [key, value] pairs, got ${show(entries)}`,
      );
    }
    let index = 0;
    for (const entry of entries) {
      if (typeof entry !== 'object' || entry === null) {
        throw new TypeError(`entries[${index}] must be a [key, value] pair, got ${show(entry)}`);
      }
      this.#entries.set(entry[0], entry[1]);
      index++;
    }
  }

  /** The number of keys. */
  get size(): number {
    return this.#entries.size;
  }

  /** The version of the latest change (0 before any). */
  get version(): number {
    return this.#version;
  }

  /** The value for `key`, or `undefined`. */
  load(key: K): V | undefined {
    return this.#entries.get(key);
  }

  /** Sets the value for `key`. */
  store(key: K, value: V): void {
    this.#set(key, value);
  }

  /** The existing value (`loaded: true`), or stores `value` and returns it (`loaded: false`). */
  loadOrStore(key: K, value: V): { value: V; loaded: boolean } {
    if (this.#entries.has(key)) return { value: this.#entries.get(key) as V, loaded: true };
    this.#set(key, value);
    return { value, loaded: false };
  }

  /** Deletes `key`, returning the value it had and whether it was present. */
  loadAndDelete(key: K): { value: V | undefined; loaded: boolean } {
    if (!this.#entries.has(key)) return { value: undefined, loaded: false };
    const value = this.#entries.get(key);
    this.#delete(key);
    return { value, loaded: true };
  }

  /** Deletes `key` (nothing happens, and nothing is emitted, if it is absent). */
  delete(key: K): void {
    if (this.#entries.has(key)) this.#delete(key);
  }

  /** Stores `value` and returns the previous value and whether there was one. */
  swap(key: K, value: V): { previous: V | undefined; loaded: boolean } {
    const loaded = this.#entries.has(key);
    const previous = this.#entries.get(key);
    this.#set(key, value);
    return { previous, loaded };
  }

  /** Stores `next` only if `key` is present and holds `old`; true when it did. */
  compareAndSwap(key: K, old: V, next: V): boolean {
    if (!this.#entries.has(key) || !Object.is(this.#entries.get(key), old)) return false;
    this.#set(key, next);
    return true;
  }

  /** Deletes `key` only if it holds `old`; true when it did. */
  compareAndDelete(key: K, old: V): boolean {
    if (!this.#entries.has(key) || !Object.is(this.#entries.get(key), old)) return false;
    this.#delete(key);
    return true;
  }

  /**
   * Calls `fn` for each entry in insertion order until it returns `false` (as Go's Range).
   * Mutations made by `fn` follow `Map` iteration rules (added keys are visited, deleted not).
   */
  range(fn: (key: K, value: V) => boolean | void): void {
    for (const [key, value] of this.#entries) if (fn(key, value) === false) return;
  }

  /**
   * The current value of `key` at subscription, then its value after each change to it
   * (`undefined` once deleted).
   */
  watch(key: K): Observable<V | undefined> {
    return new Observable<V | undefined>((subscriber) => {
      let listeners = this.#byKey.get(key);
      if (listeners === undefined) this.#byKey.set(key, (listeners = new Set()));
      const keyed = listeners;
      // Listening first, at the current version: the value emitted next and the changes that
      // follow never overlap (even inside a drain), and a store made by the subscriber while
      // it receives that value reaches it.
      const unlisten = this.#listen(keyed, true, subscriber);
      subscriber.add(() => {
        unlisten();
        if (keyed.size === 0 && this.#byKey.get(key) === keyed) this.#byKey.delete(key);
      });
      subscriber.next(this.#entries.get(key));
    });
  }

  #listen(
    into: Set<Listener<K, V>>,
    valueOnly: boolean,
    subscriber: Listener<K, V>['subscriber'],
  ): () => void {
    const listener: Listener<K, V> = {
      order: this.#subscriptions++,
      fromVersion: this.#version,
      valueOnly,
      subscriber,
      active: true,
    };
    into.add(listener);
    return () => {
      listener.active = false;
      into.delete(listener);
    };
  }

  #set(key: K, value: V): void {
    const had = this.#entries.has(key);
    const previous = this.#entries.get(key);
    if (had && Object.is(previous, value)) return;
    this.#entries.set(key, value);
    this.#publish(had ? 'update' : 'add', key, value, previous);
  }

  #delete(key: K): void {
    const previous = this.#entries.get(key);
    this.#entries.delete(key);
    this.#publish('delete', key, undefined, previous);
  }

  #publish(type: MapChange<K, V>['type'], key: K, value: V | undefined, previous: V | undefined) {
    this.#pending.push({ type, key, value, previous, version: ++this.#version });
    if (this.#draining) return; // a subscriber mutated the map: delivered after the current one
    this.#draining = true;
    try {
      for (let i = 0; i < this.#pending.length; i++) this.#deliver(this.#pending[i]);
    } finally {
      this.#pending.length = 0;
      this.#draining = false;
    }
  }

  /**
   * Hands `change` to its key's watchers and the `changes$` subscribers, merged by subscription
   * order. Set iterators are live (no copy): listeners removed meanwhile are not visited, the
   * one already picked is skipped through `active`, and those added meanwhile are visited but
   * skipped by version.
   */
  #deliver(change: MapChange<K, V>): void {
    const keyed = this.#byKey.get(change.key);
    const watchers = keyed === undefined ? EMPTY : keyed.values();
    const everything = this.#all.size === 0 ? EMPTY : this.#all.values();
    let watcher = watchers.next();
    let other = everything.next();
    while (!watcher.done || !other.done) {
      let listener: Listener<K, V>;
      if (other.done || (!watcher.done && watcher.value.order < other.value.order)) {
        listener = watcher.value as Listener<K, V>;
        watcher = watchers.next();
      } else {
        listener = other.value;
        other = everything.next();
      }
      if (listener.active && change.version > listener.fromVersion) {
        if (listener.valueOnly)
          (listener.subscriber as Subscriber<V | undefined>).next(change.value);
        else (listener.subscriber as Subscriber<MapChange<K, V>>).next(change);
      }
    }
  }
}

/** The iterator of a key nobody watches. */
const EMPTY: Iterator<never, undefined> = { next: () => ({ done: true, value: undefined }) };

/** A short rendering of a wrong argument for an error message. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) return Object.prototype.toString.call(value);
  return String(value);
}
