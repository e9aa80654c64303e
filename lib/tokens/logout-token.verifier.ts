import { compactVerify } from 'jose';
import { decodeJson, reject, UTF8 } from './logout-token.compact';
import { decryptionOf, plainJws, type LogoutTokenDecryption } from './logout-token.decryption';
import {
  checkLogoutTokenClaims,
  checkLogoutTokenHeader,
  isJsonObject,
  type VerifiedLogoutTokenClaims,
} from './logout-token.rules';
import {
  allowedAlgorithms,
  signatureKeyResolver,
  verifyWithEachKey,
  type LogoutTokenSigning,
} from './logout-token.signature';

export { MAX_LOGOUT_TOKEN_LENGTH } from './logout-token.compact';
export {
  DEFAULT_CONTENT_ENCRYPTION_ALGORITHMS,
  DEFAULT_KEY_MANAGEMENT_ALGORITHMS,
  type LogoutTokenDecryptionKey,
} from './logout-token.decryption';

/**
 * What a back-channel logout token is verified against: the registration's claims, its signing
 * ({@link LogoutTokenSigning}) and its encryption ({@link LogoutTokenDecryption}).
 *
 * @internal
 */
export interface LogoutTokenExpectations extends LogoutTokenDecryption, LogoutTokenSigning {
  /** The registration's issuer (exact match). */
  issuer: string;
  /** The registration's client id (must be in `aud`). */
  clientId: string;
  /** Clock skew allowed on `iat` and `exp`, in seconds. */
  clockToleranceSeconds: number;
  /** Accept tokens without `exp`, their age capped by `iat` (older OPs). */
  legacy: boolean;
  /** Legacy mode: the maximum age of a token without `exp`, in seconds. */
  legacyMaxAgeSeconds: number;
  /** The current time in epoch seconds (tests); default now. */
  nowSeconds?: number;
}

/**
 * A logout token verifier bound to one registration's expectations: what does not depend on the
 * token (the allowed algorithms, the key resolver, jose's options) is prepared once. Call it with the
 * token, and the current time in epoch seconds for tests (default now).
 *
 * @internal
 */
export type LogoutTokenVerifier = (
  token: string,
  nowSeconds?: number,
) => Promise<VerifiedLogoutTokenClaims>;

/**
 * Verifies a back-channel logout token (Back-Channel Logout 1.0 §2.6) and returns its claims, or
 * rejects with a {@link LogoutTokenError} whose `reason` names the rule that failed. Nothing is
 * looked up and nothing is remembered here: replay (`jti`) and the session effect are the caller's.
 *
 * Order: size and shape; decryption when a decryption key is configured (then a plain JWS is
 * refused); header `typ`; signature with jose against the allow-list (`none` never, HMAC only with a
 * client secret); payload a JSON object; claim rules ({@link checkLogoutTokenClaims}).
 *
 * @internal
 */
export async function verifyLogoutToken(
  token: string,
  expected: LogoutTokenExpectations,
): Promise<VerifiedLogoutTokenClaims> {
  return createLogoutTokenVerifier(expected)(token, expected.nowSeconds);
}

/**
 * {@link verifyLogoutToken} for many tokens of one registration: the expectations are read once, here
 * (later changes to the object are not seen), and every token is checked exactly as
 * {@link verifyLogoutToken} checks it.
 *
 * @internal
 */
export function createLogoutTokenVerifier(expected: LogoutTokenExpectations): LogoutTokenVerifier {
  const { issuer, clientId, clockToleranceSeconds, legacy, legacyMaxAgeSeconds } = expected;
  const decryption = decryptionOf(expected);
  const algorithms = allowedAlgorithms(expected);
  const resolver = signatureKeyResolver(expected);
  // Shared by every token of the registration: frozen, so that nothing can change them meanwhile.
  Object.freeze(algorithms);
  const joseOptions = Object.freeze({ algorithms });
  return async (token, nowSeconds) => {
    const jws = decryption === undefined ? plainJws(token) : await decryption(token);
    checkProtectedHeader(jws);
    if (algorithms.length === 0) {
      throw reject('alg_not_allowed', 'no signing algorithm is allowed for this registration');
    }
    let payloadBytes: Uint8Array;
    try {
      payloadBytes = (await compactVerify(jws, resolver, joseOptions)).payload;
    } catch (error) {
      payloadBytes = await verifyWithEachKey(jws, joseOptions, error);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(UTF8.decode(payloadBytes));
    } catch {
      // No cause: JSON.parse's message quotes the input.
      throw reject('malformed', 'the payload is not JSON');
    }
    return checkLogoutTokenClaims(payload, {
      issuer,
      clientId,
      nowSeconds: nowSeconds ?? Math.floor(Date.now() / 1000),
      clockToleranceSeconds,
      legacy,
      legacyMaxAgeSeconds,
    });
  };
}

/** The protected header: base64url JSON, `typ` allowed, no unencoded payload (`b64`). */
function checkProtectedHeader(jws: string): void {
  const header = decodeJson(jws.slice(0, jws.indexOf('.')), 'header');
  checkLogoutTokenHeader(header);
  if (isJsonObject(header) && header.b64 !== undefined && header.b64 !== true) {
    throw reject('malformed', 'an unencoded payload (b64) is not allowed in a JWT');
  }
}
