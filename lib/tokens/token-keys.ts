import type { JWTVerifyGetKey } from 'jose';
import { SYMMETRIC_ALGORITHMS } from './signing-algorithms';

/**
 * A key resolver that answers HMAC algorithms with the client secret and everything else from the
 * OP's JWKS. jose checks the header's `alg` against the allow-list before it asks for a key.
 *
 * @internal
 */
export function keyResolver(
  keys: JWTVerifyGetKey,
  clientSecret: string | undefined,
): JWTVerifyGetKey {
  const secret = clientSecret === undefined ? undefined : new TextEncoder().encode(clientSecret);
  return (header, token) => {
    if (SYMMETRIC_ALGORITHMS.has(header.alg ?? '')) {
      if (!secret) throw new TypeError('HMAC-signed token but no client secret is configured');
      return secret;
    }
    return keys(header, token);
  };
}
