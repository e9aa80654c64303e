import { hash } from 'node:crypto';

/**
 * SHA-256 of an application session id, base64url without padding (43 characters). Repositories only
 * ever see this digest.
 *
 * `crypto.hash` (one-shot, Node >= 20.12) takes a third of `createHash().update().digest()`'s time
 * and allocates no Hash object: the guard hashes the session id of every request.
 *
 * @publicApi
 */
export function hashSessionId(sessionId: string): string {
  return hash('sha256', sessionId, 'base64url');
}

/** The prefix of every stored OP session id ({@link hashSid}). */
export const SID_DIGEST_PREFIX = 'sha256:';

const SID_DIGEST = /^sha256:[A-Za-z0-9_-]{43}$/;

/**
 * The OP session id (`sid`) as the library stores and looks it up: `sha256:` followed by the
 * base64url SHA-256 of its UTF-8 bytes (50 characters). Repositories only ever see this digest (in
 * `OidcSessionInfo.sid` and `OidcLogoutCriteria.sid`), so that a leaked table does not hand out the
 * sids a front-channel logout request needs. Lookups are by equality, which a digest keeps.
 *
 * Unkeyed, like {@link hashSessionId}: a sid the OP drew at random (a UUID, 120 bits or more) cannot
 * be found from its digest, and a sid an attacker could guess they can send to the front-channel
 * endpoint without any table. The prefix tells a digest from a sid stored in clear by an earlier
 * version, which the library hashes when it finds one (`SidDigestsAndBinaryKeys1764000000000`).
 *
 * @publicApi
 */
export function hashSid(sid: string): string {
  return SID_DIGEST_PREFIX + hash('sha256', sid, 'base64url');
}

/** Whether a stored value is a sid digest ({@link hashSid}) rather than a sid in clear. @internal */
export function isSidDigest(value: string): boolean {
  return SID_DIGEST.test(value);
}
