import { decodeJwt } from 'jose';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import { hashSid } from '../repositories/session-id-hash';

/**
 * The OP session id of a login record in clear, read from its ID token (verified when the login was
 * recorded): the record itself keeps only the digest. `undefined` when the record has no sid, or
 * when the ID token's `sid` is not the one the record's digest stands for (a store that returned
 * something else than what it was given).
 *
 * @internal
 */
export function clearSidOf(info: Pick<OidcSessionInfo, 'sid' | 'idToken'>): string | undefined {
  if (info.sid === undefined) return undefined;
  let sid: unknown;
  try {
    ({ sid } = decodeJwt(info.idToken));
  } catch {
    return undefined;
  }
  return typeof sid === 'string' && hashSid(sid) === info.sid ? sid : undefined;
}
