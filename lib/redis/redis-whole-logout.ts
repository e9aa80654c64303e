import type { OidcLogoutEventBegin } from '../logout-events/oidc-logout-event.store';
import { redisScript } from './redis-client';
import { EVENT_FUNCTIONS, EVENT_HELPERS } from './redis-event-scripts';
import { REMOVE_MATCHING_FUNCTION, SESSION_FUNCTIONS } from './redis-session-scripts';

/**
 * The whole logout of the two Redis stores on one client and key prefix (see `joint-completion.ts`):
 * one script records the claim and the tombstone, removes the sessions and marks the claim applied,
 * instead of three (`begin`, the removal, `complete`). Redis runs it whole: no other client sees
 * the sessions gone while the claim is still claimed, nor a login between tombstone and removal.
 *
 * @internal
 */

/**
 * KEYS: those of `begin` (event expiry index, [claim], [tombstone]), then the session index and the
 * session expiry index. ARGV: the seven of `begin`, then those of `remove_matching` (issuer,
 * client id, sid or '', sub or ''). Replies `{'replay'}` for a claim applied already
 * (its tombstone recorded, nothing removed, as `begin` does), else `'apply'` followed by nine values
 * per record removed.
 *
 * The claim is written last, as applied: should Redis fail the script half way (it keeps what ran),
 * the claim is not applied, and the logout's retry removes what is left.
 */
export const APPLY_LOGOUT = redisScript(
  `${EVENT_HELPERS}${EVENT_FUNCTIONS}${SESSION_FUNCTIONS}${REMOVE_MATCHING_FUNCTION}
local at, claim, live_exp = 2, nil, nil
if ARGV[3] ~= '' then
  local done
  claim = KEYS[at]
  done, live_exp = live_claim(claim)
  at = at + 1
  if done == '1' then
    if ARGV[5] ~= '' then set_tombstone(KEYS[at], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]) end
    index_expiries()
    return {'replay'}
  end
end
if ARGV[5] ~= '' then set_tombstone(KEYS[at], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]) end
local n = #KEYS
local out = remove_matching(KEYS[n - 1], KEYS[n], ARGV[8], ARGV[9], ARGV[10], ARGV[11])
if claim then set_claim(claim, ARGV[4], tonumber(ARGV[3]), '1', live_exp) end
index_expiries()
table.insert(out, 1, 'apply')
return out
`,
);

/** The keys and arguments of the event store's `begin` for one logout event. @internal */
export interface RedisEventCommand {
  keys: string[];
  args: string[];
}

/** What a whole logout needs of the Redis logout-event store. @internal */
export interface RedisEventSide {
  /** The app's client the store was given: the session repository must have the same one. */
  readonly client: object;
  /** The store's key base (`{prefix}:`): the same for both, so that every key is in one slot. */
  readonly base: string;
  beginCommand(event: OidcLogoutEventBegin): RedisEventCommand;
}

/**
 * The Redis logout-event store's {@link RedisEventSide}, `undefined` when a subclass overrides
 * `begin` or `complete`. @internal
 */
export const REDIS_EVENT_SIDE = Symbol('nest-oidc-logout: Redis event side');

/** A logout-event store that may offer a {@link RedisEventSide}. @internal */
interface WithRedisEventSide {
  [REDIS_EVENT_SIDE]?(): RedisEventSide | undefined;
}

/** The event side of `events` when it is on `client` under `base`, else `undefined`. @internal */
export function redisEventSideOn(
  events: object,
  client: object,
  base: string,
): RedisEventSide | undefined {
  const side = (events as WithRedisEventSide)[REDIS_EVENT_SIDE]?.();
  return side && side.client === client && side.base === base ? side : undefined;
}
