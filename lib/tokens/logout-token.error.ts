import { OidcLogoutError } from '../errors/oidc-logout.error';

/**
 * Why a back-channel logout token was refused. Stable within a major: log it, count it, switch on it.
 *
 * - `malformed`: not a compact JWS (or JWE) of sane size, undecodable, or a payload that is not a JSON
 *   object; also an encrypted token (JWE) when the registration has no decryption key.
 * - `encryption_required`: the registration has a decryption key but the token is a plain JWS.
 * - `decryption_failed`: the JWE could not be decrypted (wrong key, tampered, key-management or
 *   content-encryption algorithm not allowed).
 * - `unsupported_typ`: header `typ` other than absent, `JWT`, `logout+jwt`, `application/logout+jwt`.
 * - `alg_not_allowed`: `alg` outside the registration's allow-list (`none` always), or an `alg` the
 *   OP's key with that `kid` is not for (another key family, or the JWK's own `alg` differs).
 * - `key_not_found`: no key of the OP's JWKS matches, even after a refetch.
 * - `jwks_unavailable`: the key was not in the cache and the JWKS could not be fetched in time.
 * - `signature_invalid`: the signature does not verify.
 * - `iss_mismatch`, `aud_mismatch`, `iat_missing`, `iat_in_future`, `exp_missing`, `expired`,
 *   `too_old` (legacy mode: no `exp` and `iat` older than the cap), `jti_missing`, `events_invalid`,
 *   `nonce_present`, `sid_or_sub_missing`: the claim rules of Back-Channel Logout 1.0 §2.4 / §2.6.
 * - `nbf_in_future`: `nbf` (RFC 7519 §4.1.5) is ahead of now by more than the clock tolerance.
 * - `claim_type_invalid`: a claim is present with the wrong JSON type (e.g. `iat` a string, `sid` an
 *   empty string or a number), or a time claim (`iat`, `exp`, `nbf`) that is not a sane NumericDate
 *   (negative, or after the year 9999, e.g. `exp: 1e13`); the message names the claim. A fraction
 *   is fine (RFC 7519).
 *
 * @publicApi
 */
export type LogoutTokenRejection =
  | 'malformed'
  | 'encryption_required'
  | 'decryption_failed'
  | 'unsupported_typ'
  | 'alg_not_allowed'
  | 'key_not_found'
  | 'jwks_unavailable'
  | 'signature_invalid'
  | 'iss_mismatch'
  | 'aud_mismatch'
  | 'iat_missing'
  | 'iat_in_future'
  | 'nbf_in_future'
  | 'exp_missing'
  | 'expired'
  | 'too_old'
  | 'jti_missing'
  | 'events_invalid'
  | 'nonce_present'
  | 'sid_or_sub_missing'
  | 'sid_missing'
  | 'claim_type_invalid';

/**
 * A back-channel logout token was refused. `reason` says which rule failed; the message names the
 * rule in words and never contains the token nor any claim value (no `sid`, `sub`, `jti`, issuer or
 * audience value from the token), so it is safe for logs and for the 400 response's
 * `error_description`.
 *
 * @publicApi
 */
export class LogoutTokenError extends OidcLogoutError {
  /** The rule that failed. */
  readonly reason: LogoutTokenRejection;

  constructor(reason: LogoutTokenRejection, message: string, options?: { cause?: unknown }) {
    super('ERR_LOGOUT_TOKEN_INVALID', `Logout token rejected (${reason}): ${message}`, options);
    this.reason = reason;
  }
}
