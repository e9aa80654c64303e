import { redisScript } from './redis-client';

/**
 * The Lua scripts of the Redis logout-event store. A claim is a hash `done exp` (`done` 0 while
 * claimed, 1 once applied), a tombstone a hash `iat exp`; the expiry index (a sorted set) holds each
 * as `c:<key>` or `t:<key>` scored by its expiry, for the cleanup. Dates are epoch ms, written as
 * integer strings.
 *
 * @internal
 */

const HELPERS = `
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local function int(n) return string.format('%.0f', n) end
local function expires(key, member, exp)
  local ttl = math.floor(math.max(exp - now, 0) + grace)
  redis.call('ZADD', KEYS[1], int(exp), member)
  redis.call('PEXPIRE', key, int(ttl))
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], int(ttl)) end
end
`;

/**
 * Records a claim and/or a tombstone at once; replies `apply` or `replay`.
 * KEYS: expiry index, then the claim key when there is a claim, then the tombstone key when there is
 * one. ARGV: now, grace, claim expiry or '', claim member, tombstone issuedAt or '', tombstone expiry,
 * tombstone member.
 */
export const BEGIN_LOGOUT_EVENT = redisScript(`${HELPERS}
local outcome = 'apply'
local at = 2
if ARGV[3] ~= '' then
  local key, exp = KEYS[at], tonumber(ARGV[3])
  at = at + 1
  local c = redis.call('HMGET', key, 'done', 'exp')
  local old = tonumber(c[2])
  if old and old > now then
    if c[1] == '1' then
      outcome = 'replay'
    elseif exp > old then
      redis.call('HSET', key, 'exp', int(exp))
      expires(key, ARGV[4], exp)
    end
  else
    redis.call('DEL', key)
    redis.call('HSET', key, 'done', '0', 'exp', int(exp))
    expires(key, ARGV[4], exp)
  end
end
if ARGV[5] ~= '' then
  local key, iat, exp = KEYS[at], tonumber(ARGV[5]), tonumber(ARGV[6])
  local t = redis.call('HMGET', key, 'iat', 'exp')
  local old = tonumber(t[2])
  if old and old > now then
    iat = math.max(iat, tonumber(t[1]) or 0)
    exp = math.max(exp, old)
  end
  redis.call('HSET', key, 'iat', int(iat), 'exp', int(exp))
  expires(key, ARGV[7], exp)
end
return outcome
`);

/** Marks a live claim applied. KEYS: expiry index, claim. ARGV: now, grace. */
export const COMPLETE_LOGOUT_EVENT = redisScript(`${HELPERS}
local exp = tonumber(redis.call('HGET', KEYS[2], 'exp'))
if exp and exp > now then redis.call('HSET', KEYS[2], 'done', '1') end
return 1
`);

/**
 * The `issuedAt` of each tombstone asked, nil for one absent or expired.
 * KEYS: expiry index, then the tombstone keys. ARGV: now, grace.
 */
export const FIND_TOMBSTONES = redisScript(`${HELPERS}
local out = {}
for i = 2, #KEYS do
  local t = redis.call('HMGET', KEYS[i], 'iat', 'exp')
  local exp = tonumber(t[2])
  if exp and exp > now then out[i - 1] = t[1] else out[i - 1] = false end
end
return out
`);

/**
 * Deletes up to `limit` entries expired at `now`; replies how many it removed and how many members
 * of the expiry index it read. KEYS: expiry index. ARGV: now, grace, entry key prefix, limit.
 */
export const EXPIRE_LOGOUT_EVENTS = redisScript(`${HELPERS}
local removed = 0
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
for _, member in ipairs(members) do
  local key = ARGV[3] .. member
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
