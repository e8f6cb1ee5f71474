// Clients for the lock specs, configured for fast failover: a dial timeout and a deadline on
// every unary call, none on streams (watch, keepalive), as the EtcdLocks docs recommend.
import { Etcd3 } from 'etcd3';

export function etcdClient(endpoints: string[], callTimeoutMs = 3000): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: 1000,
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + callTimeoutMs },
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `predicate` holds, polling every 20 ms, or rejects after `timeoutMs`. */
export async function eventually(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
