import type { Namespace, Watcher } from 'etcd3';
import { AbortedError } from '../errors.js';
import { toEtcdError, unaryDeadline } from './etcdCall.js';

/** Options of {@link waitDelete}. */
export interface WaitDeleteOptions {
  /** Also report deletions from this revision on (pass the header revision of your read + 1). */
  fromRevision?: string;
  /** The incarnation to wait for: a key re-created since (another create revision) counts as gone. */
  createRevision?: string;
  /** Deadline of each presence read in ms. */
  callTimeoutMs: number;
  signal?: AbortSignal;
}

/**
 * The store revision etcd read when it registered `watcher` (its created response's header; etcd3
 * keeps it + 1 as the watcher's resume point). Call it as soon as `create()` resolves. etcd
 * registers a watch "from now" at that revision + 1; if a write landed in between, the watcher
 * starts behind the store and is served by a sync loop that runs every 100 ms, so its events come
 * up to 100 ms late. A read answered at this same revision proves no write landed in between.
 */
export function registeredAt(watcher: Watcher): bigint {
  return BigInt(watcher.lastRevision() ?? 0) - 1n;
}

/**
 * Resolves with a revision at which `key` is gone (the deletion event's, or that of a read that
 * found it absent), as etcd's Go `waitDelete`. The first watcher is followed by a read of the
 * key, so a deletion before the watch was live is seen too.
 *
 * Why a second watcher: a watcher can start behind the store (see {@link registeredAt}), and
 * its deletion event then arrives up to 100 ms late (seen in 1 of ~150 hand-offs with 4
 * contending clients). Unless the read after it proves the watcher live, a second one is opened,
 * and the first event from either counts. Each starts behind in well under 1% of creations,
 * independently, so both behind is vanishingly rare (and even then the event comes, late).
 *
 * Rejects with `AbortedError` when `signal` aborts (the watchers are cancelled), or with
 * `BackendUnavailableError` when a watch or read fails. Watch streams carry no deadline.
 */
export function waitDelete(
  client: Namespace,
  key: string,
  options: WaitDeleteOptions,
): Promise<string> {
  const { signal, fromRevision, createRevision, callTimeoutMs } = options;
  if (signal?.aborted) return Promise.reject(new AbortedError('wait for deletion aborted'));
  return new Promise<string>((resolve, reject) => {
    let finished = false;
    const watchers: Watcher[] = [];
    const finish = (error?: Error, revision = '') => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener('abort', onAbort);
      for (const w of watchers) void w.cancel().catch(() => undefined);
      if (error === undefined) resolve(revision);
      else reject(error);
    };
    const onAbort = () => finish(new AbortedError('wait for deletion aborted'));
    signal?.addEventListener('abort', onAbort);

    const open = async (start: string | undefined): Promise<Watcher | undefined> => {
      const builder = client.watch().key(key);
      const watcher = await (start === undefined ? builder : builder.startRevision(start)).create();
      if (finished) {
        void watcher.cancel().catch(() => undefined);
        return undefined;
      }
      watchers.push(watcher);
      watcher.on('delete', (kv) => finish(undefined, kv.mod_revision));
      watcher.on('error', (e) => finish(toEtcdError(e, 'watch')));
      return watcher;
    };

    void (async () => {
      const watcher = await open(fromRevision);
      if (watcher === undefined) return;
      const seenAtCreate = registeredAt(watcher);
      // Through the builder, as the watch: a namespaced client reads its own key space.
      const res = await client.get(key).options(unaryDeadline(callTimeoutMs)).exec();
      const kv = res.kvs[0];
      if (
        kv === undefined ||
        (createRevision !== undefined && kv.create_revision !== createRevision)
      ) {
        finish(undefined, res.header.revision);
        return;
      }
      const startsAfter = fromRevision === undefined ? seenAtCreate : BigInt(fromRevision) - 1n;
      const live = BigInt(res.header.revision) === seenAtCreate && startsAfter >= seenAtCreate;
      // A deletion before the read was seen by it, and one after the second watcher is registered
      // is reported at once; only one in the ~1 ms between, with the first watcher behind too,
      // could come late.
      if (!live) await open(undefined);
    })().catch((e: unknown) => finish(toEtcdError(e, 'watch')));
  });
}
