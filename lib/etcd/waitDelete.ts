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
 * Opened per wait, at most: each further watcher is opened only while none is known to be synced.
 * One is unsynced in well under 1% of creations under write load, so three all unsynced is
 * vanishingly rare (and even then the event comes, just up to 100 ms late).
 */
const MAX_WATCHERS = 3;

/**
 * Resolves with a revision at which `key` is gone (the deletion event's, or that of a read that
 * found it absent), as etcd's Go `waitDelete`. Each watcher is followed by a read of the key, so
 * a deletion before the watch was live is seen too.
 *
 * Why more than one watcher: etcd registers a watch "from now" at the revision it read just
 * before, and if a write lands in between, the watcher starts behind and is served by a sync loop
 * that runs every 100 ms: the deletion event then arrives up to 100 ms late (seen in 1 of ~150
 * hand-offs with 4 contending clients). The created response carries the revision etcd read; if
 * our read after it shows the same revision, nothing was written in between and the watcher is
 * live. Otherwise another watcher is opened, and the first event from any of them counts.
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

    /** Opens one watcher and reads the key; resolves true once a watcher is known to be live. */
    const watchAndCheck = async (start: string | undefined): Promise<boolean> => {
      const builder = client.watch().key(key);
      const watcher = await (start === undefined ? builder : builder.startRevision(start)).create();
      if (finished) {
        void watcher.cancel().catch(() => undefined);
        return true;
      }
      watchers.push(watcher);
      watcher.on('delete', (kv) => finish(undefined, kv.mod_revision));
      watcher.on('error', (e) => finish(toEtcdError(e, 'watch')));
      // etcd3 sets this to the created response's revision + 1 on connect.
      const seenAtCreate = BigInt(watcher.lastRevision() ?? 0) - 1n;
      const res = await client.kv.range({ key: Buffer.from(key) }, unaryDeadline(callTimeoutMs));
      const kv = res.kvs[0];
      if (
        kv === undefined ||
        (createRevision !== undefined && kv.create_revision !== createRevision)
      ) {
        finish(undefined, res.header.revision);
        return true;
      }
      const startsAfter = start === undefined ? seenAtCreate : BigInt(start) - 1n;
      return BigInt(res.header.revision) === seenAtCreate && startsAfter >= seenAtCreate;
    };

    void (async () => {
      for (let opened = 0; opened < MAX_WATCHERS && !finished; opened++) {
        if (await watchAndCheck(opened === 0 ? fromRevision : undefined)) return;
      }
    })().catch((e: unknown) => finish(toEtcdError(e, 'watch')));
  });
}
