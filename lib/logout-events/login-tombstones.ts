import { decodeJwt } from 'jose';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { CheckedLogoutEventStore } from './checked-logout-event-store';
import { sidTombstoneKey, subTombstoneKey } from './logout-event-keys';
import { clearSidOf } from '../services/session-sid';

/**
 * Whether a logout tombstone says the OP ended this login's session (or all the user's sessions)
 * before the record was written: a logout that named the sid (in clear, as the logout keys it)
 * alone or with this user, or the user alone at or after the ID token's `iat`.
 *
 * Every path that writes a login record checks it after the write (logouts write their tombstone
 * before they remove), so that whatever the interleaving, either the removal or this check sees the
 * other: `recordLogin`, and the session-id follower moving a record to a regenerated session.
 *
 * @internal
 */
export async function endedByLogout(
  events: CheckedLogoutEventStore,
  info: OidcSessionInfo,
  sid: string | undefined,
  idTokenIat: number | undefined,
): Promise<boolean> {
  const sidKeys = sid
    ? [
        sidTombstoneKey(info.issuer, info.clientId, sid),
        sidTombstoneKey(info.issuer, info.clientId, sid, info.sub),
      ]
    : [];
  const subKey = subTombstoneKey(info.issuer, info.clientId, info.sub);
  const tombstones = await events.findTombstones([...sidKeys, subKey]);
  if (sidKeys.some((key) => tombstones.has(key))) return true;
  const userLoggedOutAt = tombstones.get(subKey);
  return (
    userLoggedOutAt !== undefined && (idTokenIat === undefined || idTokenIat <= userLoggedOutAt)
  );
}

/**
 * {@link endedByLogout} for a record read back from the store: the sid in clear and the `iat` come
 * from its (verified when it was recorded) ID token. A record whose ID token does not give its sid
 * back counts as ended: it cannot be checked, and a record that cannot be checked must not pass.
 *
 * @internal
 */
export async function recordEndedByLogout(
  events: CheckedLogoutEventStore,
  record: OidcSessionInfo,
): Promise<boolean> {
  const sid = clearSidOf(record);
  if (record.sid !== undefined && sid === undefined) return true;
  let iat: unknown;
  try {
    ({ iat } = decodeJwt(record.idToken));
  } catch {
    return true;
  }
  return endedByLogout(events, record, sid, typeof iat === 'number' ? iat : undefined);
}
