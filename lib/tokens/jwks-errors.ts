import { errors } from 'jose';

/**
 * The OP's JWKS could not be had: network error, timeout, non-200 answer, redirect, oversized or
 * invalid body. Only the JWKS URL's origin and path appear in the message.
 *
 * @internal
 */
export class JwksUnavailableError extends errors.JOSEError {
  static override code = 'ERR_JWKS_UNAVAILABLE';
  override code = 'ERR_JWKS_UNAVAILABLE';
}

/**
 * The JWKS has a key with the token's `kid`, but not one usable with the token's `alg` (another key
 * family, another curve, or the JWK names another `alg`). A subclass of jose's `JWKSNoMatchingKey`.
 *
 * @internal
 */
export class JwksKeyAlgorithmMismatchError extends errors.JWKSNoMatchingKey {}
