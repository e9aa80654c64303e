import { createHash, randomBytes } from 'node:crypto';

/** A PKCE pair (RFC 7636): the secret verifier kept in the session, the challenge sent to the OP. @internal */
export interface PkcePair {
  /** 43 characters of base64url: 32 random bytes (RFC 7636 section 4.1, 256 bits of entropy). */
  verifier: string;
  /** `BASE64URL(SHA256(verifier))` (section 4.2). */
  challenge: string;
  method: 'S256';
}

/** The S256 code challenge of a verifier. @internal */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** A fresh PKCE pair, method S256 (`plain` is never used). @internal */
export function createPkcePair(): PkcePair {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: pkceChallenge(verifier), method: 'S256' };
}

/**
 * Whether to send PKCE to an OP: always S256, unless the OP announces `code_challenge_methods_supported`
 * without S256 (then it could not check it). An OP that announces nothing gets PKCE too: an
 * authorization server ignores parameters it does not know (RFC 6749 section 3.1), and most OPs that
 * support PKCE do not announce it.
 *
 * @internal
 */
export function shouldUsePkce(
  enabled: boolean,
  codeChallengeMethodsSupported: readonly string[] | undefined,
): boolean {
  if (!enabled) return false;
  return (
    codeChallengeMethodsSupported === undefined || codeChallengeMethodsSupported.includes('S256')
  );
}
