import { BackendUnavailableError, isBackendUnavailableError } from '../../errors.js';

/** One server's answer in a {@link Tally}. */
export interface Ballot {
  server: number;
  reply: unknown;
}

/** The answers of one parallel call, as far as they were in when it was decided. */
export interface Tally {
  yes: Ballot[];
  no: Ballot[];
  errors: Error[];
  /** Servers that had not answered yet. */
  pending: number;
  /** Every server's answer, once all are in (each call has its deadline, so it settles). */
  complete: Promise<Tally>;
}

/** One server's call in a vote. */
export interface Vote {
  server: number;
  reply: Promise<unknown>;
}

/**
 * Settles once `needed` of `votes` pass `accept`, or once too many refusals and failures make
 * that impossible; later answers only go into the tally's `complete`. Never rejects. Internal.
 */
export function collectVotes(
  votes: readonly Vote[],
  accept: (reply: unknown) => boolean,
  needed: number,
): Promise<Tally> {
  return new Promise((resolve) => {
    // The running count goes on after the decision, for `complete`; the decision gets a copy.
    const all: Omit<Tally, 'complete'> = { yes: [], no: [], errors: [], pending: votes.length };
    let decided = false;
    const decide = () => {
      decided = true;
      resolve({ ...all, yes: [...all.yes], no: [...all.no], errors: [...all.errors], complete });
    };
    const count = (update: () => void) => {
      all.pending--;
      update();
      const refused = all.no.length + all.errors.length;
      if (decided) return;
      if (all.yes.length >= needed || refused > votes.length - needed || !all.pending) decide();
    };
    const counted = votes.map(({ server, reply }) =>
      reply.then(
        (r) => count(() => (accept(r) ? all.yes : all.no).push({ server, reply: r })),
        (e: Error) => count(() => all.errors.push(e)),
      ),
    );
    const complete: Promise<Tally> = Promise.all(counted).then(() => ({ ...all, complete }));
    if (votes.length === 0) decide();
  });
}

/** The error for a vote that failed for lack of answers: a non-transient one if any. Internal. */
export function unavailableError(errors: readonly Error[], serverCount: number): Error {
  const hard = errors.find((e) => !isBackendUnavailableError(e));
  if (hard) return hard;
  return new BackendUnavailableError(
    'redis',
    `${errors.length} of ${serverCount} redis servers failed: ${errors[0]?.message}`,
    { cause: errors[0] },
  );
}
