/**
 * Noticing that the user closed the etcd3 client under us. `Etcd3.close()` only closes the
 * connection pool's hosts: a lease keepalive stream we opened keeps running on it (and keeps the
 * lease, hence every lock and leadership on it, alive for ever) and nothing tells us. So the
 * pool's `close` is wrapped, once per pool, to tell every session on it; `isClientClosed` is the
 * fallback check for a pool closed some other way. Internal.
 */
import type { Namespace } from 'etcd3';

interface PoolLike {
  close(): void;
  hosts?: readonly { closed?: boolean }[];
}

const listeners = new WeakMap<PoolLike, Set<() => void>>();

/** The connection pool behind `client` (etcd3 1.1.2 keeps it on every RPC client). */
function poolOf(client: Namespace): PoolLike | undefined {
  const pool = (client as unknown as { leaseClient?: { client?: Partial<PoolLike> } }).leaseClient
    ?.client;
  return typeof pool?.close === 'function' ? (pool as PoolLike) : undefined;
}

/** True once every host of `client`'s pool is closed (`Etcd3.close()` was called). */
export function isClientClosed(client: Namespace): boolean {
  const hosts = poolOf(client)?.hosts;
  return hosts !== undefined && hosts.length > 0 && hosts.every((h) => h.closed === true);
}

/** Calls `fn` once when `client` is closed. Returns the function that unregisters it. */
export function onClientClose(client: Namespace, fn: () => void): () => void {
  const pool = poolOf(client);
  if (pool === undefined) return () => undefined;
  let set = listeners.get(pool);
  if (set === undefined) {
    const registered = new Set<() => void>();
    set = registered;
    listeners.set(pool, registered);
    const close = pool.close.bind(pool);
    pool.close = () => {
      close();
      for (const listener of [...registered]) {
        registered.delete(listener);
        listener();
      }
    };
  }
  set.add(fn);
  const own = set;
  return () => void own.delete(fn);
}
