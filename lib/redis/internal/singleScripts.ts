// The Lua scripts of RedisLocks' single mode and the Redis keys they work on. Internal.
import { luaScript } from '../ScriptRunner.js';

/** Restarts the fence counter from server time in µs (it was lost), past every earlier fence. */
const SEED_FENCE = `local function seed_fence()
    local t = redis.call('TIME')
    redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
    return redis.call('INCR', KEYS[2])
  end`;

/**
 * Redis keys of lock `K` (all share K's hash tag, so they land in one Cluster slot):
 * K = holder token (string, PX ttl, the redlock/redsync layout); K:fence = fence counter;
 * K:queue = waiters (zset token → ticket); K:waiters = hash token → "<entry expiry ms>:<grant
 * ttl ms>" while queued, "g<fence>" once the lock was handed to it, plus the ticket counter in
 * field '#seq'. Hand-offs are announced on channel K:wake as "<token> <fence>".
 *
 * Every script starts with its uncontended path (no queue), so it pays for nothing else; the
 * shared prelude below is only reached past it. `now_ms()` is server time in ms; `live_head()`
 * is the first waiter whose entry has not expired (expired entries at the head are dropped, so a
 * dead waiter blocks others only until then) and its grant TTL; `next_fence()` increments the
 * fence counter; `pass_on()` hands the lock to the first live waiter or frees it.
 */
const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_head()
  local first = redis.call('ZRANGE', KEYS[3], 0, 0)
  if #first == 0 then return nil end
  local now = now_ms()
  while #first > 0 do
    local exp, grant = string.match(redis.call('HGET', KEYS[4], first[1]) or '', '^(%d+):(%d+)$')
    if exp and tonumber(exp) > now then return first[1], grant end
    redis.call('ZREM', KEYS[3], first[1])
    redis.call('HDEL', KEYS[4], first[1])
    first = redis.call('ZRANGE', KEYS[3], 0, 0)
  end
  return nil
end
${SEED_FENCE}
local function next_fence()
  local fence = redis.call('INCR', KEYS[2])
  if fence == 1 then fence = seed_fence() end
  return fence
end
local function pass_on()
  local head, grant = live_head()
  if head == nil then
    redis.call('DEL', KEYS[1])
    return
  end
  redis.call('SET', KEYS[1], head, 'PX', grant)
  local fence = string.format('%.0f', next_fence())
  redis.call('ZREM', KEYS[3], head)
  redis.call('HSET', KEYS[4], head, 'g' .. fence)
  if redis.call('PTTL', KEYS[4]) < tonumber(grant) then redis.call('PEXPIRE', KEYS[4], grant) end
  redis.call('PUBLISH', KEYS[1] .. ':wake', head .. ' ' .. fence)
end
`;

/**
 * ARGV: token, ttl ms, queue entry ttl ms (0: try once, do not queue). Returns the fence (> 0) if
 * this call took the lock or claimed a hand-off to this token, 0 if not (with an entry ttl the
 * token is then queued or its entry refreshed), -1 if the key already holds this token and its
 * hand-off was claimed before. The lock is taken only when it is free and no live waiter is
 * ahead, as `SET NX PX` (so a plain SET NX client still excludes and is excluded). The fence
 * counter is seeded from server time in µs when it starts over, so fences keep increasing even
 * after Redis lost its data.
 */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1], KEYS[3]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local fence = redis.call('INCR', KEYS[2])
  if fence > 1 then return fence end
  ${SEED_FENCE}
  return seed_fence()
end
${PRELUDE}
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  local granted = redis.call('HGET', KEYS[4], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if granted and string.sub(granted, 1, 1) == 'g' then return tonumber(string.sub(granted, 2)) end
  return -1
end
if holder == false then
  local head = live_head()
  if head == nil or head == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    if head ~= nil then
      redis.call('ZREM', KEYS[3], ARGV[1])
      redis.call('HDEL', KEYS[4], ARGV[1])
    end
    return next_fence()
  end
end
if ARGV[3] ~= '0' then
  local entry = redis.call('HGET', KEYS[4], ARGV[1])
  if entry == false then
    redis.call('ZADD', KEYS[3], redis.call('HINCRBY', KEYS[4], '#seq', 1), ARGV[1])
  end
  local grant = math.min(tonumber(ARGV[2]), tonumber(ARGV[3]))
  redis.call('HSET', KEYS[4], ARGV[1], (now_ms() + tonumber(ARGV[3])) .. ':' .. grant)
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
return 0
`;

/**
 * ARGV: token. Compare-and-delete, or, with live waiters, a direct hand-off to the first one (no
 * gap in which another client could take the lock). Returns 1, or 0 if not ours.
 */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
${PRELUDE}
redis.call('HDEL', KEYS[4], ARGV[1])
pass_on()
return 1
`;

/** ARGV: token, ttl ms. Compare-and-pexpire (and drops a claimed hand-off marker). Returns 1 or 0. */
const EXTEND = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
`;

/**
 * ARGV: token. Leaves the queue; if the lock is free, or was just handed to this token, passes it
 * on to the next live waiter.
 */
const LEAVE = `${PRELUDE}
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then pass_on() end
return 1
`;

export const SCRIPTS = {
  acquire: luaScript(ACQUIRE),
  release: luaScript(RELEASE),
  extend: luaScript(EXTEND),
  leave: luaScript(LEAVE),
};

export interface LockKeys {
  keys: [string, string, string, string];
  channel: string;
}
