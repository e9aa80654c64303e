import { redisScript } from './redis-client';

/**
 * The Lua scripts of the Redis session repository: each write of a record and its index entries is
 * one script, so Redis applies it whole or not at all, and no other client sees it half done. Every
 * key a script builds (a record from an index member) shares the hash tag of the keys it is given.
 *
 * A record is a hash: `reg iss cid sid sub tok exp crt` (the login record; `exp` and `crt` in epoch
 * ms; no `sid` without one) and `ksid ksub`, the index keys it is in. Numbers go to Redis as
 * integer strings (`int`): Lua would write a large one in exponent notation.
 *
 * @internal
 */

/** The record fields a reply carries, in this order. */
export const RECORD_FIELDS = ['reg', 'iss', 'cid', 'sid', 'sub', 'tok', 'exp', 'crt'] as const;

/** `keep` and `unindex`, after an `int` (the event scripts' helpers define one too). */
export const SESSION_FUNCTIONS = `
local function keep(key, ttl) if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, int(ttl)) end end
local function unindex(id, ksid, ksub) if ksid then redis.call('SREM', ksid, id) end if ksub then redis.call('SREM', ksub, id) end end
`;

const HELPERS = `
local function int(n) return string.format('%.0f', n) end
${SESSION_FUNCTIONS}`;

/**
 * Saves a record, replacing the one of the same id and its index entries.
 * KEYS: record, sub index, expiry index, [sid index]. ARGV: id, now, grace, reg, iss, cid, sub, tok,
 * exp, crt, sid.
 */
export const SAVE_SESSION = redisScript(`${HELPERS}
local id = ARGV[1]
local old = redis.call('HMGET', KEYS[1], 'ksid', 'ksub')
unindex(id, old[1], old[2])
redis.call('DEL', KEYS[1])
local exp = tonumber(ARGV[9])
local ttl = math.floor(math.max(exp - tonumber(ARGV[2]), 0) + tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'reg', ARGV[4], 'iss', ARGV[5], 'cid', ARGV[6], 'sub', ARGV[7],
  'tok', ARGV[8], 'exp', ARGV[9], 'crt', ARGV[10], 'ksub', KEYS[2])
if KEYS[4] then
  redis.call('HSET', KEYS[1], 'sid', ARGV[11], 'ksid', KEYS[4])
  redis.call('SADD', KEYS[4], id)
  keep(KEYS[4], ttl)
end
redis.call('PEXPIRE', KEYS[1], int(ttl))
redis.call('SADD', KEYS[2], id)
keep(KEYS[2], ttl)
redis.call('ZADD', KEYS[3], ARGV[9], id)
keep(KEYS[3], ttl)
return 1
`);

/**
 * Removes one record and its index entries; replies its fields (all nil when there was none).
 * KEYS: record, expiry index. ARGV: id.
 */
export const REMOVE_SESSION = redisScript(`${HELPERS}
local r = redis.call('HMGET', KEYS[1], 'reg', 'iss', 'cid', 'sid', 'sub', 'tok', 'exp', 'crt', 'ksid', 'ksub')
unindex(ARGV[1], r[9], r[10])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]}
`);

/**
 * `beside(index, name)`: the full name of `name` under the same base as an expiry index (`...x:s`,
 * `...x:e`) as Redis got it: whatever prefix the client puts before the keys it is given (ioredis's
 * `keyPrefix`, a wrapper's) is in it, so a name a script builds lies beside the keys it was given.
 * Records are `beside(x:s, 'r:') .. id`, logout events `beside(x:e, 'e:') .. member`.
 */
export const BESIDE_FUNCTION = `
local function beside(index, name) return string.sub(index, 1, -4) .. name end
`;

/**
 * `remove_matching(index, expiries, iss, cid, sid, sub)`: removes every record of an index (one OP
 * session, or one user) that matches issuer, client id and, when not '', sid and sub; prunes
 * members whose record is gone. Answers, per record removed, its id and its fields (nine values
 * each).
 */
export const REMOVE_MATCHING_FUNCTION = `${BESIDE_FUNCTION}
local function remove_matching(index, expiries, iss, cid, sid, sub)
  local out = {}
  local prefix = beside(expiries, 'r:')
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    local key = prefix .. id
    local r = redis.call('HMGET', key, 'reg', 'iss', 'cid', 'sid', 'sub', 'tok', 'exp', 'crt', 'ksid', 'ksub')
    if not r[2] then
      redis.call('SREM', index, id)
    elseif r[2] == iss and r[3] == cid and (sid == '' or r[4] == sid) and (sub == '' or r[5] == sub) then
      unindex(id, r[9], r[10])
      redis.call('DEL', key)
      redis.call('ZREM', expiries, id)
      table.insert(out, id)
      for i = 1, 8 do table.insert(out, r[i]) end
    end
  end
  return out
end
`;

/**
 * Removes the records of an index that match (see `remove_matching`).
 * KEYS: the index, expiry index. ARGV: issuer, client id, sid or '', sub or ''.
 */
export const REMOVE_MATCHING_SESSIONS = redisScript(`${HELPERS}${REMOVE_MATCHING_FUNCTION}
return remove_matching(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`);

/**
 * Deletes up to `limit` records expired at `now` (`exp <= now`), with their index entries; replies
 * how many it removed and how many expiry-index members it read. A member whose record lives on
 * (saved again later) gets the record's expiry back.
 * KEYS: expiry index. ARGV: now, limit.
 */
export const EXPIRE_SESSIONS = redisScript(`${HELPERS}${BESIDE_FUNCTION}
local now = tonumber(ARGV[1])
local prefix = beside(KEYS[1], 'r:')
local removed = 0
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  local key = prefix .. id
  local r = redis.call('HMGET', key, 'exp', 'ksid', 'ksub')
  local exp = tonumber(r[1])
  if exp and exp > now then
    redis.call('ZADD', KEYS[1], int(exp), id)
  else
    unindex(id, r[2], r[3])
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], id)
    removed = removed + 1
  end
end
return {removed, #ids}
`);
