import type { Attributes } from '@opentelemetry/api';
import type { ElectionEvent } from '../election/ElectionBackend.js';
import type { Recording } from './record.js';
import { endWithError, observeGauge, onEvents, OpenSpans } from './record.js';
import { eventsOf, type ElectionTarget } from './targets.js';

/** The election a gauge point or span belongs to. */
export const ELECTION_NAME = 'rxc.election.name';
export const ELECTION_TERM = 'rxc.election.term';
export const ELECTION_CANDIDATE = 'rxc.election.candidate';

interface NameState {
  /** `options.attributes` plus `rxc.election.name`, built once per name. */
  readonly attributes: Attributes;
  /** The term this backend's campaign leads now, or undefined. */
  leading: bigint | undefined;
  /** The last term one of this backend's campaigns was elected for. */
  term: bigint;
}

/**
 * An election backend: `rxc.election.leader` (1 while one of this backend's campaigns leads, 0
 * after its term ended) and `rxc.election.term` (the last term it was elected for), one point per
 * election name seen in `events$` (attribute `rxc.election.name`: a backend may campaign in
 * several elections, and one 1/0 value could not say which it leads). Names appear with their
 * first event after `instrument`.
 *
 * With a tracer, each term led is a root span `rxc.election.term` from `elected` to `resigned`
 * (status UNSET) or `lost` (status ERROR, the error recorded when the backend knows it).
 */
export function instrumentElection(election: ElectionTarget, recording: Recording): void {
  const events$ = eventsOf(election, 'election backend');
  const names = new Map<string, NameState>();
  const stateOf = (name: string): NameState => {
    let state = names.get(name);
    if (state === undefined) {
      const attributes = Object.freeze({ ...recording.attributes, [ELECTION_NAME]: name });
      state = { attributes, leading: undefined, term: 0n };
      names.set(name, state);
    }
    return state;
  };
  const spans = recording.tracer === undefined ? undefined : new OpenSpans(recording);
  onEvents(recording, events$, (event) => {
    const state = stateOf(event.name);
    if (event.type === 'elected') {
      state.leading = event.term;
      if (event.term > state.term) state.term = event.term;
      spans?.open(termId(event), startTermSpan(recording, event));
      return;
    }
    if (state.leading === event.term) state.leading = undefined;
    const span = spans?.take(termId(event));
    if (span === undefined) return;
    if (event.type === 'lost') endWithError(span, event.error);
    else span.end();
  });
  observeGauge(
    recording,
    'rxc.election.leader',
    { description: '1 while a campaign of this backend leads the election, else 0' },
    (result) => {
      for (const state of names.values()) {
        result.observe(state.leading === undefined ? 0 : 1, state.attributes);
      }
    },
  );
  observeGauge(
    recording,
    'rxc.election.term',
    { description: 'The last term a campaign of this backend was elected for', unit: '{term}' },
    (result) => {
      for (const state of names.values()) result.observe(Number(state.term), state.attributes);
    },
  );
}

const termId = (event: { name: string; term: bigint }) => `${event.term}\u0000${event.name}`;

function startTermSpan(recording: Recording, event: Extract<ElectionEvent, { type: 'elected' }>) {
  const attributes = {
    ...recording.attributes,
    [ELECTION_NAME]: event.name,
    [ELECTION_CANDIDATE]: event.candidate,
    [ELECTION_TERM]: event.term.toString(),
  };
  return recording.tracer!.startSpan('rxc.election.term', { attributes, root: true });
}
