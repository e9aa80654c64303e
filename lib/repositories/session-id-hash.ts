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
