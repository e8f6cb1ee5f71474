import { distinctUntilChanged, type Observable } from 'rxjs';
import { validateNonEmptyString } from '../internal/validate.js';
import type { ElectionBackend, Leader } from './ElectionBackend.js';

const sameLeader = (a: Leader | null, b: Leader | null): boolean =>
  a === b ||
  (a !== null && b !== null && a.id === b.id && a.term === b.term && a.value === b.value);

/**
 * The leader of election `name` as a stream of changes: the current leader (or `null`) first,
 * then each new leader, new proclaimed value, or `null` when nobody leads. Consecutive equal
 * leaders (same id, term and value) are emitted once.
 *
 * ```
 * observe:        A--A--B--B'--n--   (B' = B after proclaim, n = null)
 * leaderChanges:  A-----B--B'--n--
 * ```
 *
 * @example
 * leaderChanges(election, 'jobs').subscribe((leader) =>
 *   console.log(leader ? `${leader.value} leads term ${leader.term}` : 'no leader'),
 * );
 */
export function leaderChanges(backend: ElectionBackend, name: string): Observable<Leader | null> {
  if (typeof backend !== 'object' || backend === null || typeof backend.observe !== 'function')
    throw new TypeError('backend must be an ElectionBackend (with observe())');
  validateNonEmptyString('name', name);
  return backend.observe(name).pipe(distinctUntilChanged(sameLeader));
}
