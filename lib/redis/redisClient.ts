import type { Cluster, Redis } from 'ioredis';

/**
 * True for an ioredis `Redis` or `Cluster` client (by the methods this package calls, so two
 * copies of ioredis both pass), false for anything else: an etcd3 client, a URL, `{}`. Internal.
 */
export function isRedisClient(value: unknown): value is Redis | Cluster {
  if (typeof value !== 'object' || value === null) return false;
  const client = value as Partial<Record<'evalsha' | 'eval' | 'script' | 'duplicate', unknown>>;
  return (
    typeof client.evalsha === 'function' &&
    typeof client.eval === 'function' &&
    typeof client.script === 'function' &&
    typeof client.duplicate === 'function'
  );
}
