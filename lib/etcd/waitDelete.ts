import type { Namespace } from 'etcd3';
import { AbortedError } from '../errors.js';
import { toEtcdError } from './etcdCall.js';

/**
 * Resolves with the deletion's revision once `key` is deleted at or after `fromRevision` (etcd's Go `waitDelete`): watches
 * the key from that revision, so a deletion that happened between your read (pass its header
 * revision) and the watch is not missed. Used by `EtcdLocks` (wait for the predecessor) and
 * `EtcdElection`.
 *
 * Rejects with `AbortedError` when `signal` aborts (the watch is cancelled), or with the watch's
 * error mapped to `BackendUnavailableError` when the watch fails for good (e.g. the revision was
 * compacted). The watch stream itself has no deadline: it waits as long as the key lives.
 *
 * @example
 * const res = await client.getAll().prefix('lock/').sort('Create', 'Descend').exec();
 * await waitDelete(client, predecessorKey, Number(res.header.revision), { signal });
 */
export function waitDelete(
  client: Namespace,
  key: string,
  fromRevision: number | string,
  options: { signal?: AbortSignal } = {},
): Promise<string> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(new AbortedError('wait for deletion aborted'));
  return new Promise<string>((resolve, reject) => {
    let finished = false;
    let cancel: (() => void) | undefined;
    const finish = (error?: Error, revision = '') => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener('abort', onAbort);
      cancel?.();
      if (error === undefined) resolve(revision);
      else reject(error);
    };
    const onAbort = () => finish(new AbortedError('wait for deletion aborted'));
    signal?.addEventListener('abort', onAbort);
    client
      .watch()
      .key(key)
      .startRevision(String(fromRevision))
      .create()
      .then(
        (watcher) => {
          cancel = () => void watcher.cancel().catch(() => undefined);
          if (finished) {
            cancel();
            return;
          }
          watcher.on('delete', (kv) => finish(undefined, kv.mod_revision));
          watcher.on('error', (e) => finish(toEtcdError(e, 'watch')));
        },
        (e: unknown) => finish(toEtcdError(e, 'watch')),
      );
  });
}
