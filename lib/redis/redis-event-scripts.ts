import { redisScript } from './redis-client';
import { BESIDE_FUNCTION } from './redis-session-scripts';

/**
 * The Lua scripts of the Redis logout-event store. A claim is a hash `done exp` (`done` 0 while
 * claimed, 1 once applied), a tombstone a hash `iat exp`; the expiry index (a sorted set) holds each
 * as `c:<key>` or `t:<key>` scored by its expiry, for the cleanup. Dates are epoch ms, written as
 * integer strings.
 *
 * @internal
 */

/**
 * The clock (ARGV 1 and 2: now, grace), `int`, and the expiry of entries: `expires` gives an entry
 * its TTL and notes its expiry-index member, `index_expiries` adds the noted members in one `ZADD`
 * and keeps the index's TTL above theirs. Every event script starts with them.
 */
export const EVENT_HELPERS = `
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local function int(n) return string.format('%.0f', n) end
local noted, noted_ttl = {}, 0
local function expires(key, member, exp)
  local ttl = math.floor(math.max(exp - now, 0) + grace)
  redis.call('PEXPIRE', key, int(ttl))
  table.insert(noted, int(exp))
  table.insert(noted, member)
  if ttl > noted_ttl then noted_ttl = ttl end
end
local function index_expiries()
  if #noted == 0 then return end
  redis.call('ZADD', KEYS[1], unpack(noted))
  if redis.call('PTTL', KEYS[1]) < noted_ttl then redis.call('PEXPIRE', KEYS[1], int(noted_ttl)) end
end
`;

/**
 * The claim and tombstone functions:
 * - `live_claim(key)`: the claim's `done` and expiry when it is live, else nil;
 * - `set_claim(key, member, exp, done, live_exp)`: writes a claim as `done` ('0' claimed, '1'
 *   applied), its expiry never brought forward (`live_exp`, from `live_claim`);
 * - `set_tombstone(key, iat, exp, member)`: records a tombstone, keeping the later `iat` and
 *   expiry of a live one.
 */
export const EVENT_FUNCTIONS = `
local function live_claim(key)
  local c = redis.call('HMGET', key, 'done', 'exp')
  local exp = tonumber(c[2])
  if exp and exp > now then return c[1], exp end
  return nil, nil
end
local function set_claim(key, member, exp, done, live_exp)
  if live_exp and exp <= live_exp then
    if done == '1' then redis.call('HSET', key, 'done', '1') end
  else
    redis.call('HSET', key, 'done', done, 'exp', int(exp))
    expires(key, member, exp)
  end
end
local function set_tombstone(key, iat, exp, member)
  local t = redis.call('HMGET', key, 'iat', 'exp')
  local old = tonumber(t[2])
  if old and old > now then
    iat = math.max(iat, tonumber(t[1]) or 0)
    exp = math.max(exp, old)
  end
  redis.call('HSET', key, 'iat', int(iat), 'exp', int(exp))
  expires(key, member, exp)
end
`;

/**
 * The keys and arguments of `begin` (the whole logout starts with the same):
 * KEYS: expiry index, then the claim key when there is a claim, then the tombstone key when there is
 * one. ARGV: now, grace, claim expiry or '', claim member, tombstone issuedAt or '', tombstone
 * expiry, tombstone member.
 */

/**
 * Records a claim and/or a tombstone at once; replies `apply`, or `replay` for a claim applied
 * already (its tombstone is recorded all the same). A claim found claimed is claimed again (its
 * expiry only extended). KEYS and ARGV: those of `begin` above.
 */
export const BEGIN_LOGOUT_EVENT = redisScript(`${EVENT_HELPERS}${EVENT_FUNCTIONS}
local outcome, at = 'apply', 2
if ARGV[3] ~= '' then
  local done, live_exp = live_claim(KEYS[at])
  if done == '1' then
    outcome = 'replay'
  else
    set_claim(KEYS[at], ARGV[4], tonumber(ARGV[3]), '0', live_exp)
  end
  at = at + 1
end
if ARGV[5] ~= '' then set_tombstone(KEYS[at], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]) end
index_expiries()
return outcome
`);

/** Marks a live claim applied. KEYS: expiry index, claim. ARGV: now, grace. */
export const COMPLETE_LOGOUT_EVENT = redisScript(`${EVENT_HELPERS}
local exp = tonumber(redis.call('HGET', KEYS[2], 'exp'))
if exp and exp > now then redis.call('HSET', KEYS[2], 'done', '1') end
return 1
`);

/**
 * The `issuedAt` of each tombstone asked, nil for one absent or expired. A tombstone whose expiry,
 * or (live) whose `iat`, is no number fails the lookup: read as absent, it would let a login issued
 * before its logout through. KEYS: expiry index, then the tombstone keys. ARGV: now, grace.
 */
export const FIND_TOMBSTONES = redisScript(`${EVENT_HELPERS}
local out = {}
for i = 2, #KEYS do
  local t = redis.call('HMGET', KEYS[i], 'iat', 'exp')
  local exp = tonumber(t[2])
  if (t[1] or t[2]) and not exp then return redis.error_reply('ERR a logout tombstone has no expiry') end
  if exp and exp > now then
    if not tonumber(t[1]) then return redis.error_reply('ERR a live logout tombstone has no iat') end
    out[i - 1] = t[1]
  else
    out[i - 1] = false
  end
end
return out
`);

/**
 * Deletes up to `limit` entries expired at `now`; replies how many it removed and how many members
 * of the expiry index it read. KEYS: expiry index (`...x:e`: an entry's name is the same name
 * without `x:e`, then `e:` and its member, whatever prefix the client put before it). ARGV: now,
 * grace, limit.
 */
export const EXPIRE_LOGOUT_EVENTS = redisScript(`${EVENT_HELPERS}${BESIDE_FUNCTION}
local removed = 0
local prefix = beside(KEYS[1], 'e:')
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(members) do
  local key = prefix .. member
  local exp = tonumber(redis.call('HGET', key, 'exp'))
  if exp and exp > now then
    redis.call('ZADD', KEYS[1], int(exp), member)
  else
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], member)
    removed = removed + 1
  end
end
return {removed, #members}
`);
