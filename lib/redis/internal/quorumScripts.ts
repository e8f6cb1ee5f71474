// The Lua scripts of RedisLocks' quorum mode (run on every server) and the keys they work on.
// Internal.
import { luaScript } from '../ScriptRunner.js';

/**
 * Server time in ms, and the first waiter (by ticket, then id) whose entry has not expired;
 * expired entries at the head are dropped. KEYS[q] = queue (zset id → ticket), KEYS[w] = waiters
 * (hash id → entry expiry in server ms).
 */
const QUEUE = (q: number, w: number) => `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_head()
  local first = redis.call('ZRANGE', KEYS[${q}], 0, 0)
  if #first == 0 then return nil end
  local now = now_ms()
  while #first > 0 do
    if tonumber(redis.call('HGET', KEYS[${w}], first[1]) or '0') > now then return first[1] end
    redis.call('ZREM', KEYS[${q}], first[1])
    redis.call('HDEL', KEYS[${w}], first[1])
    first = redis.call('ZRANGE', KEYS[${q}], 0, 0)
  end
  return nil
end
`;

/**
 * KEYS: lock key, fence counter, queue, waiters. ARGV: token, ttl ms, waiter id, ticket (client
 * ms at the start of the wait; '' for a single try), entry ttl ms. With neither a holder nor a
 * queue the key is taken at once. Otherwise a waiter joins the queue (or refreshes its entry)
 * with its ticket, the same on every server, so every server orders waiters alike, and the key
 * is taken only if it is free and the caller is the first live waiter (a single try: nobody
 * waits). Taking is `SET NX PX` plus an INCR of the fence counter, seeded from server time in µs
 * when it starts over. Returns {1, fence}, or {0, holder's token or '', 1 if a waiter is ahead
 * else 0}. Fences travel as strings (GET), exact beyond 2^53.
 */
export const ACQUIRE = luaScript(`
local function take()
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if redis.call('INCR', KEYS[2]) == 1 then
    local t = redis.call('TIME')
    redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
    redis.call('INCR', KEYS[2])
  end
  return {1, redis.call('GET', KEYS[2])}
end
if redis.call('EXISTS', KEYS[1], KEYS[3]) == 0 then return take() end
${QUEUE(3, 4)}
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[3])
  redis.call('HSET', KEYS[4], ARGV[3], now_ms() + tonumber(ARGV[5]))
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
end
local holder = redis.call('GET', KEYS[1])
if holder then return {0, holder, 0} end
local head = live_head()
if head ~= nil and head ~= ARGV[3] then return {0, '', 1} end
return take()
`);

/**
 * KEYS: lock key, fence counter. ARGV: token, fence. While the key holds the token, raises the
 * counter to at least the fence (decimal strings compared by length, then digits). Returns 1 or
 * 0 (not ours).
 */
export const RATCHET = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local current = redis.call('GET', KEYS[2]) or '0'
if #ARGV[2] > #current or (#ARGV[2] == #current and ARGV[2] > current) then
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1
`);

/** KEYS: lock key. ARGV: token, ttl ms. Compare-and-pexpire. Returns 1 or 0 (not ours). */
export const EXTEND = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

/**
 * KEYS: lock key, queue, waiters. ARGV: token, wake channel, waiter id, '1' to leave the queue.
 * Compare-and-delete (nothing more while nobody queues); then, if the key is free, wakes the
 * first live waiter (PUBLISH of its id) unless that is the caller. Returns 1, or 0 if the key did
 * not hold the token.
 */
export const RELEASE = luaScript(`
local ours = redis.call('GET', KEYS[1]) == ARGV[1]
if ours and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
${QUEUE(2, 3)}
if ours then redis.call('DEL', KEYS[1]) end
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('HDEL', KEYS[3], ARGV[3])
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  local head = live_head()
  if head ~= nil and head ~= ARGV[3] then redis.call('PUBLISH', ARGV[2], head) end
end
if ours then return 1 end
return 0
`);

export interface QuorumKeys {
  /** The lock key alone (extend). */
  lock: [string];
  /** The lock key, its fence counter, queue and waiters (acquire, ratchet). */
  fenced: [string, string, string, string];
  /** The lock key, its queue and waiters (release, leave). */
  queued: [string, string, string];
  channel: string;
}
