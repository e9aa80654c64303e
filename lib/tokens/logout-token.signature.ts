import { compactVerify, errors, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import { JwksKeyAlgorithmMismatchError, JwksUnavailableError } from './jwks-errors';
import { reject } from './logout-token.compact';
import { LogoutTokenError } from './logout-token.error';
import { ASYMMETRIC_ALGORITHMS, SYMMETRIC_ALGORITHMS } from './signing-algorithms';
import { keyResolver } from './token-keys';

/** The signature of a logout token: the allowed algorithms, the keys, and jose's failures as reasons. */

/** What the signature is checked with. @internal */
export interface LogoutTokenSigning {
  /** The client secret; HS256/384/512 tokens are verified with it when `algorithms` lists them. */
  clientSecret?: string;
  /** Allowed JWS algorithms; `none` and unknown names are dropped, HS* without a secret too. */
  algorithms: readonly string[];
  /** The OP's keys, normally {@link createOidcKeySet} through `OidcDiscoveryService.getKeySet`. */
  keys: JWTVerifyGetKey;
}

/** The JWS algorithms actually allowed: known names only, never `none`, HMAC only with a secret. */
export function allowedAlgorithms(expected: LogoutTokenSigning): string[] {
  const hasSecret = typeof expected.clientSecret === 'string' && expected.clientSecret.length > 0;
  return expected.algorithms.filter(
    (alg) => ASYMMETRIC_ALGORITHMS.has(alg) || (hasSecret && SYMMETRIC_ALGORITHMS.has(alg)),
  );
}

/**
 * The key resolver handed to jose: HMAC algorithms get the client secret, the others the OP's keys;
 * a resolver failing for its own reasons (e.g. discovery down) means the keys are unavailable.
 */
export function signatureKeyResolver(expected: LogoutTokenSigning): JWTVerifyGetKey {
  const keys = keyResolver(expected.keys, expected.clientSecret);
  // Not an async function: a cached key costs no extra promise.
  return (header, token) => {
    try {
      const key = keys(header, token);
      return isThenable(key) ? Promise.resolve(key).catch(keyResolutionFailure) : key;
    } catch (error) {
      return keyResolutionFailure(error);
    }
  };
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | null)?.then === 'function';

function keyResolutionFailure(error: unknown): never {
  // An OP key jose cannot import (unsupported kty/crv) is not the token's header's fault.
  if (error instanceof errors.JOSENotSupported) {
    throw new errors.JWKInvalid("the OP's key cannot be imported", { cause: error });
  }
  if (error instanceof errors.JOSEError) throw error;
  throw new JwksUnavailableError("the OP's keys could not be resolved", { cause: error });
}

/**
 * After jose's `compactVerify` failed: several keys fit a token without `kid` (jose leaves trying each
 * to the caller), or the failure as a rejection reason. Returns the payload bytes.
 */
export async function verifyWithEachKey(
  jws: string,
  options: { algorithms: string[] },
  error: unknown,
): Promise<Uint8Array> {
  if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw mapJoseError(error);
  for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
    try {
      return (await compactVerify(jws, key, options)).payload;
    } catch (attempt) {
      if (!(attempt instanceof errors.JWSSignatureVerificationFailed)) {
        throw mapJoseError(attempt);
      }
    }
  }
  throw reject('signature_invalid', 'the signature does not verify with any matching key');
}

/** A jose (or key set) failure as a rejection reason; messages never contain the token. */
function mapJoseError(error: unknown): LogoutTokenError {
  if (error instanceof LogoutTokenError) return error;
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return reject('alg_not_allowed', 'the signing algorithm is not allowed', error);
  }
  if (error instanceof JwksKeyAlgorithmMismatchError) {
    return reject(
      'alg_not_allowed',
      "the OP's key with this kid is for another algorithm than the token's",
      error,
    );
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return reject('key_not_found', "no key of the OP's JWKS matches the token (kid/alg)", error);
  }
  if (
    error instanceof errors.JWKSTimeout ||
    error instanceof JwksUnavailableError ||
    error instanceof errors.JWKSInvalid
  ) {
    return reject('jwks_unavailable', "the OP's JWKS could not be fetched", error);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return reject('signature_invalid', 'the signature does not verify', error);
  }
  if (error instanceof TypeError) {
    return reject('alg_not_allowed', "the OP's key cannot be used with the token's alg", error);
  }
  if (error instanceof errors.JOSENotSupported) {
    return reject('malformed', 'the JWS uses an unsupported feature (e.g. crit)', error);
  }
  if (error instanceof errors.JWKInvalid) {
    return reject('key_not_found', "the OP's key for the token is not usable", error);
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return reject('malformed', 'the JWS is malformed', error);
  }
  return reject('signature_invalid', 'the signature could not be verified', error);
}
