/** Asymmetric JWS algorithms the library accepts from a JWKS. @internal */
export const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

/** HMAC algorithms, keyed with the client secret; only when the registration lists them. @internal */
export const SYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set(['HS256', 'HS384', 'HS512']);

/** The default when neither the registration nor the OP names any algorithm (OIDC Core 3.1.3.7). */
const DEFAULT_ALGORITHMS: readonly string[] = ['RS256'];

/**
 * The allow-list of JWS algorithms for a registration's ID and logout tokens: the registration's own
 * `algorithms` when given (validated at startup), else the asymmetric ones among the OP's
 * `id_token_signing_alg_values_supported`, else RS256. Never `none`; HMAC never from discovery.
 *
 * @internal
 */
export function resolveAlgorithms(
  configured: readonly string[] | undefined,
  discovered: readonly string[] | undefined,
): readonly string[] {
  if (configured && configured.length > 0) {
    return configured.filter(
      (alg) => ASYMMETRIC_ALGORITHMS.has(alg) || SYMMETRIC_ALGORITHMS.has(alg),
    );
  }
  const fromOp = (discovered ?? []).filter((alg) => ASYMMETRIC_ALGORITHMS.has(alg));
  return fromOp.length > 0 ? fromOp : DEFAULT_ALGORITHMS;
}
