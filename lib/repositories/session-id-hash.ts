import { createHash } from 'node:crypto';

/**
 * SHA-256 of an application session id, base64url without padding (43 characters). Repositories only
 * ever see this digest.
 *
 * @publicApi
 */
export function hashSessionId(sessionId: string): string {
  return createHash('sha256').update(sessionId, 'utf8').digest('base64url');
}
