/**
 * RedisElection's key layout, Lua scripts and message format. Internal.
 *
 * The leader key `prefix + name` holds `<token>|<term>|<value>` (the token identifies one
 * campaign attempt); `prefix + name + ':term'` is the term counter; every change is PUBLISHed on
 * `prefix + name + ':leader'`: `<token>|<term>|<value>` when a term starts or its value is
 * proclaimed, '' when its leader resigns (the wire format of earlier versions, kept so mixed
 * versions interoperate; a reader re-reads on '' rather than guess which term ended).
 * `prefix + name + ':log'` lists the last {@link LOG_LENGTH} leaders, newest first, so an
 * observer that missed messages (reconnect, a slow subscribe) can still show every term.
 * Terms travel as strings (GET after INCR): Lua numbers are doubles and print 16 digits as 1e+15.
 */
import type { Leader } from '../election/ElectionBackend.js';
import { luaScript } from './ScriptRunner.js';

/** The Redis names of one election. */
export interface ElectionKeys {
  readonly leader: string;
  readonly term: string;
  readonly log: string;
  readonly channel: string;
}

/** Leaders kept in the log: the most terms an observer can catch up on after a gap. */
export const LOG_LENGTH = 16;

/**
 * Suffixes of an election's internal keys: the election `jobs:term` would have the term counter
 * of `jobs` as its leader key (INCR on a leader value fails; one election breaks the other).
 */
export const RESERVED_SUFFIXES: readonly string[] = [':term', ':log'];

/** Rejects an election name that ends in an internal key's suffix, naming the name. */
export function validateElectionName(name: string): void {
  const reserved = RESERVED_SUFFIXES.find((suffix) => name.endsWith(suffix));
  if (reserved !== undefined)
    throw new TypeError(
      `name must not end in the reserved suffix "${reserved}" (an internal key of RedisElection), got ${JSON.stringify(name)}`,
    );
}

export function electionKeys(prefix: string, name: string): ElectionKeys {
  const leader = prefix + name;
  return { leader, term: `${leader}:term`, log: `${leader}:log`, channel: `${leader}:leader` };
}

const MATCH = `local cur = redis.call('GET', KEYS[1])
local mine = cur and string.sub(cur, 1, #ARGV[1] + 1) == ARGV[1] .. '|'
`;

/**
 * Becomes leader with a fresh term (INCR) if nobody leads. -> {1, value, ttl} | {0, value, pttl}
 * A missing counter (new election, or a Redis that lost its data) starts at the server's clock
 * in microseconds, so terms keep increasing across a restart without persistence.
 * A key already holding this token is an earlier attempt of the same campaign that landed after
 * its caller stopped waiting (deadline): it is taken back, renewed, instead of blocking the
 * election for a whole TTL under a token nobody would renew or resign.
 * KEYS = leader, term, log; ARGV = token, value, ttl ms, channel.
 */
export const CAMPAIGN = luaScript(`${MATCH}if mine then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, cur, tonumber(ARGV[3])}
end
if cur then return {0, cur, redis.call('PTTL', KEYS[1])} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[2], now[1] .. string.format('%06d', tonumber(now[2])))
end
redis.call('INCR', KEYS[2])
local v = ARGV[1] .. '|' .. redis.call('GET', KEYS[2]) .. '|' .. ARGV[2]
redis.call('SET', KEYS[1], v, 'NX', 'PX', ARGV[3])
redis.call('LPUSH', KEYS[3], v)
redis.call('LTRIM', KEYS[3], 0, ${LOG_LENGTH - 1})
redis.call('PUBLISH', ARGV[4], v)
return {1, v, tonumber(ARGV[3])}`);

/** KEYS = leader; ARGV = token, ttl ms. -> 1 renewed | 0 not ours */
export const RENEW =
  luaScript(`${MATCH}if mine then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`);

/** KEYS = leader; ARGV = token, channel. -> 1 resigned | 0 not ours */
export const RESIGN = luaScript(`${MATCH}if mine then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], '')
  return 1
end
return 0`);

/** KEYS = leader; ARGV = token, term, value, channel. -> 1 | 0 (not the leader of that term) */
export const PROCLAIM =
  luaScript(`${MATCH}if mine and string.sub(cur, #ARGV[1] + 2, #ARGV[1] + #ARGV[2] + 2) == ARGV[2] .. '|' then
  local v = ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3]
  redis.call('SET', KEYS[1], v, 'KEEPTTL') redis.call('PUBLISH', ARGV[4], v) return 1 end
return 0`);

/**
 * KEYS = leader, term, log. -> {leader value or '', pttl, term counter or '', log newest first}.
 * Empty strings stand for missing keys: a nil would cut the reply array short.
 */
export const READ =
  luaScript(`return {redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1]),
  redis.call('GET', KEYS[2]) or '', redis.call('LRANGE', KEYS[3], 0, -1)}`);

export const ELECTION_SCRIPTS = [CAMPAIGN, RENEW, RESIGN, PROCLAIM, READ] as const;

export function parseLeader(raw: string | null | undefined): Leader | null {
  const match = raw ? /^([^|]*)\|(\d+)\|(.*)$/s.exec(raw) : null;
  return match ? { id: match[1], term: BigInt(match[2]), value: match[3] } : null;
}

/** A published message: a leader (new term or proclaimed value) or a resignation (''). */
export type ElectionMessage =
  { readonly kind: 'leader'; readonly leader: Leader } | { readonly kind: 'vacant' };

export function parseMessage(text: string): ElectionMessage | undefined {
  if (text === '') return { kind: 'vacant' };
  const leader = parseLeader(text);
  return leader ? { kind: 'leader', leader } : undefined;
}
