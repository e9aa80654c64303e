import { OidcLogoutError } from '../errors/oidc-logout.error';

/** Longest ID token accepted from the token endpoint (characters). */
export const MAX_ID_TOKEN_LENGTH = 64 * 1024;

/** A compact JWS: three base64url segments, the signature possibly empty (refused later). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Checks the shape of a token response's ID token before passport-openidconnect reads it: it splits
 * `id_token` and reads claims of its payload without any guard, in a callback outside any `try`, so
 * that a non-string `id_token` or a payload that is `null` would throw past every handler and end the
 * process. Here the ID token must be a string of compact JWS shape whose payload is a JSON object
 * carrying the claims passport-openidconnect requires, with their JSON types (`iss`, `sub` strings,
 * `aud` a string or an array of strings, `exp`, `iat` numbers; `azp`, `nonce` strings and `auth_time`
 * a number when present). The signature and the values are verified later by `recordLogin`.
 *
 * @throws OidcLogoutError `ERR_ID_TOKEN_INVALID` naming the rule that failed (never a value).
 * @internal
 */
export function assertIdTokenShape(tokenResponse: Readonly<Record<string, unknown>>): void {
  const idToken = tokenResponse.id_token;
  if (idToken === undefined) refuse('the token response has no id_token');
  if (typeof idToken !== 'string') refuse('the token response id_token is not a string');
  if (idToken.length > MAX_ID_TOKEN_LENGTH) refuse('the ID token is too long');
  if (!COMPACT_JWS.test(idToken)) refuse('the ID token is not a compact JWS');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(idToken.split('.')[1] ?? '', 'base64url').toString('utf8'));
  } catch {
    refuse('the ID token payload is not JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    refuse('the ID token payload is not a JSON object');
  }
  const claims = payload as Record<string, unknown>;
  for (const name of ['iss', 'sub'] as const) {
    if (typeof claims[name] !== 'string' || claims[name] === '') refuse(`claim ${name} missing`);
  }
  const aud = claims.aud;
  const audOk =
    (typeof aud === 'string' && aud !== '') ||
    (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string'));
  if (!audOk) refuse('claim aud missing');
  for (const name of ['exp', 'iat'] as const) {
    if (typeof claims[name] !== 'number' || !Number.isFinite(claims[name])) {
      refuse(`claim ${name} missing`);
    }
  }
  for (const name of ['azp', 'nonce'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') {
      refuse(`claim ${name} is not a string`);
    }
  }
  if (
    claims.auth_time !== undefined &&
    (typeof claims.auth_time !== 'number' || !Number.isFinite(claims.auth_time))
  ) {
    refuse('claim auth_time is not a number');
  }
}

function refuse(rule: string): never {
  throw new OidcLogoutError('ERR_ID_TOKEN_INVALID', `ID token rejected: ${rule}`);
}
