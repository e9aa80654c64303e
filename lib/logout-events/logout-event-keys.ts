import { hash } from 'node:crypto';

/**
 * Keys of the replay and tombstone entries in the repository: a prefix naming the kind and a SHA-256
 * of the identifying values (so that no OP session id or user id is stored in clear, and every key
 * fits the column whatever the issuer's length).
 *
 * @internal
 */
function digest(...parts: string[]): string {
  // Parts are joined with a NUL, which no issuer, client id, sid, sub or jti can contain unescaped.
  return hash('sha256', parts.join('\u0000'), 'base64url');
}

/**
 * The replay key of a logout token at one client registration: its issuer, the client id and its
 * jti. One token addressed to several clients (`aud: [a, b]`) is applied once at each of them; a
 * second delivery to the same client is a replay.
 *
 * @internal
 */
export function logoutTokenKey(issuer: string, clientId: string, jti: string): string {
  return `jti:${digest(issuer, clientId, jti)}`;
}

/**
 * The tombstone key of an OP session ended at one client. A logout naming a `sub` too ends that
 * session only for that user (as `removeByLogoutToken` does), so the `sub` is part of its key.
 *
 * @internal
 */
export function sidTombstoneKey(
  issuer: string,
  clientId: string,
  sid: string,
  sub?: string,
): string {
  return sub === undefined
    ? `sid:${digest(issuer, clientId, sid)}`
    : `sid:${digest(issuer, clientId, sid, sub)}`;
}

/** The tombstone key of a user whose sessions were all ended at one client. @internal */
export function subTombstoneKey(issuer: string, clientId: string, sub: string): string {
  return `sub:${digest(issuer, clientId, sub)}`;
}
