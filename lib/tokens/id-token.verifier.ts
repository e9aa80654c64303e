import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { numericDateProblem } from './numeric-date';
import { keyResolver } from './token-keys';

/** What an ID token must be checked against. @internal */
export interface IdTokenExpectations {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  algorithms: readonly string[];
  keys: JWTVerifyGetKey;
  clockToleranceSeconds: number;
}

/** The claims of a verified ID token the library keeps. @internal */
export interface VerifiedIdToken {
  payload: JWTPayload;
  sub: string;
  sid?: string;
}

/**
 * Verifies an ID token as OpenID Connect Core 3.1.3.7 asks of a client: signature by the OP's keys
 * under an allowed algorithm, `iss` exact, `aud` containing the client id (and `azp` the client when
 * there are several audiences), `exp` not passed, `nbf` (when present) not ahead, `iat` present and
 * not in the future (each beyond the clock tolerance), `sub` present; `sid` a string if present. Time
 * claims (`iat`, `exp`, `nbf`, `auth_time`) may have a fraction (RFC 7519) but must be sane
 * NumericDates (from 1970 to the year 9999).
 * Rejects with `ERR_ID_TOKEN_INVALID` and a message naming the rule, never the token.
 *
 * @internal
 */
export async function verifyIdToken(
  idToken: string,
  expected: IdTokenExpectations,
): Promise<VerifiedIdToken> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, keyResolver(expected.keys, expected.clientSecret), {
      issuer: expected.issuer,
      audience: expected.clientId,
      algorithms: [...expected.algorithms],
      clockTolerance: expected.clockToleranceSeconds,
      requiredClaims: ['sub', 'iat', 'exp'],
    }));
  } catch (error) {
    throw new OidcLogoutError(
      'ERR_ID_TOKEN_INVALID',
      `ID token rejected: ${describeJoseError(error)}`,
      {
        cause: error,
      },
    );
  }
  const invalid = (reason: string) =>
    new OidcLogoutError('ERR_ID_TOKEN_INVALID', `ID token rejected: ${reason}`);
  // jose checked exp (passed) and nbf (ahead), with the tolerance, and that they are numbers.
  for (const claim of ['iat', 'exp', 'nbf', 'auth_time'] as const) {
    const problem =
      payload[claim] === undefined ? undefined : numericDateProblem(claim, payload[claim]);
    if (problem !== undefined) throw invalid(problem);
  }
  // A login recorded now compares its iat against sub-only logouts (tombstones): an iat ahead would
  // let it outlive a logout of the user that came after it.
  const nowSeconds = Math.floor(Date.now() / 1000);
  if ((payload.iat as number) > nowSeconds + Math.max(0, expected.clockToleranceSeconds)) {
    throw invalid('iat is in the future (beyond the clock tolerance)');
  }
  if (typeof payload.sub !== 'string' || payload.sub.length === 0)
    throw invalid('sub is not a string');
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== expected.clientId) {
    throw invalid('several audiences but azp is not the client id');
  }
  const sid: unknown = payload.sid;
  if (sid !== undefined && (typeof sid !== 'string' || sid.length === 0)) {
    throw invalid('sid is not a string');
  }
  return { payload, sub: payload.sub, sid };
}

/** A short reason for a jose failure, safe to log: it never contains the token. @internal */
export function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return `token expired (${error.message})`;
  if (error instanceof errors.JWTClaimValidationFailed) {
    return `claim ${error.claim} check failed (${error.reason}): ${error.message}`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'signing algorithm not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return 'signature verification failed';
  if (error instanceof errors.JWKSNoMatchingKey)
    return 'no key of the OP matches the token (kid/alg)';
  if (error instanceof errors.JWKSTimeout) return "timed out fetching the OP's JWKS";
  if (error instanceof errors.JOSEError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return 'unknown error';
}
