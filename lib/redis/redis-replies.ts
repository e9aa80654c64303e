import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';

/**
 * Reads what Redis answered. Anything not exactly as the scripts write it (a field missing, a date
 * that is not an integer) reads as "no record": the guard then refuses the session, never passes it.
 *
 * @internal
 */

/** Epoch ms from a reply value, or `undefined` unless it is a safe integer. */
export function epochMs(value: unknown): number | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^-?\d{1,16}$/.test(text)) return undefined;
  const ms = Number(text);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * The login record of `id` from the eight values `reg iss cid sid sub tok exp crt` of a reply
 * (`sid` nil when the record has none), or `undefined` when they are not a whole record.
 */
export function sessionFromFields(
  id: string,
  fields: readonly unknown[],
): OidcSessionInfo | undefined {
  const [registrationId, issuer, clientId, sid, sub, idToken, expires, created] = fields;
  const expiresAt = epochMs(expires);
  const createdAt = epochMs(created);
  if (
    typeof registrationId !== 'string' ||
    typeof issuer !== 'string' ||
    typeof clientId !== 'string' ||
    typeof sub !== 'string' ||
    typeof idToken !== 'string' ||
    (sid !== null && sid !== undefined && typeof sid !== 'string') ||
    expiresAt === undefined ||
    createdAt === undefined
  ) {
    return undefined;
  }
  const info: OidcSessionInfo = {
    clientSessionId: id,
    registrationId,
    issuer,
    clientId,
    sub,
    idToken,
    expiresAt: new Date(expiresAt),
    createdAt: new Date(createdAt),
  };
  if (typeof sid === 'string' && sid !== '') info.sid = sid;
  return info;
}

/** A reply that must be an array, or a `TypeError` (the store then rejects: nothing is assumed). */
export function arrayReply(reply: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(reply)) throw new TypeError(`Redis answered ${what} with no array`);
  return reply;
}
