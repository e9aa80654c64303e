import { BACKCHANNEL_LOGOUT_EVENT } from '../oidc-logout.constants';
import { LogoutTokenError } from './logout-token.error';
import { numericDateProblem } from './numeric-date';

/**
 * Header `typ` values accepted on a logout token, compared case-insensitively (RFC 7515 §4.1.9 and
 * RFC 8725 §3.11: media type names are case-insensitive; `application/` may be omitted). Absent is
 * accepted too: Back-Channel Logout 1.0 §2.4 only recommends `logout+jwt`, and OPs differ (Keycloak
 * <= 23 sends `JWT`, Keycloak 24+ and node-oidc-provider `logout+jwt`).
 *
 * @internal
 */
export const LOGOUT_TOKEN_TYPS: ReadonlySet<string> = new Set([
  'jwt',
  'application/jwt',
  'logout+jwt',
  'application/logout+jwt',
]);

/** What the claims of a logout token are checked against. @internal */
export interface LogoutTokenClaimExpectations {
  /** The registration's issuer; `iss` must equal it byte for byte. */
  issuer: string;
  /** The registration's client id; `aud` must be it or an array containing it. */
  clientId: string;
  /** The current time in seconds since the epoch. */
  nowSeconds: number;
  /** Allowed clock skew, in seconds, for `iat` and `nbf` in the future and `exp` in the past. */
  clockToleranceSeconds: number;
  /** Accept a token without `exp` (Keycloak <= 23.0.3, Ory Hydra 2.2, Authentik < 2025.8.2). */
  legacy: boolean;
  /** Legacy mode, token without `exp`: the oldest `iat` accepted (plus the clock tolerance). */
  legacyMaxAgeSeconds: number;
}

/**
 * The claims of a logout token that passed every rule.
 *
 * @publicApi
 */
export interface VerifiedLogoutTokenClaims {
  /** The `iss` (equal to the registration's issuer). */
  issuer: string;
  /** The client id found in `aud`. */
  clientId: string;
  jti: string;
  /** `iat`, whole seconds since the epoch (a fraction in the token is rounded up). */
  iat: number;
  /** `exp`, whole seconds since the epoch (rounded up); absent only in legacy mode. */
  exp?: number;
  /** The OP session id, when present. */
  sid?: string;
  /** The subject, when present. */
  sub?: string;
  /**
   * Keycloak's `revoke_offline_access: true` (a member of `events`, next to the back-channel logout
   * event; also accepted inside the event's own object): the application should revoke the user's
   * offline tokens too.
   */
  revokeOfflineAccess: boolean;
  /**
   * The last second (epoch seconds) at which this token could still be accepted: `exp` + tolerance,
   * or in legacy mode without `exp`, `iat` + legacy max age + tolerance, rounded up to a whole
   * second. A replay store must remember the `jti` at least until then.
   */
  acceptableUntil: number;
}

/** A JSON object: not null, not an array. (`typeof null === 'object'`.) */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own property of a parsed JSON object (never the prototype's). */
function own(record: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined;
}

function has(record: Record<string, unknown>, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(record, name);
}

const fail = (reason: ConstructorParameters<typeof LogoutTokenError>[0], message: string) =>
  new LogoutTokenError(reason, message);

/**
 * Checks a logout token's protected header (after or before signature verification; it depends on
 * nothing secret). `typ` must be absent, `JWT`, `application/jwt`, `logout+jwt` or
 * `application/logout+jwt`, in any case.
 * `alg`, `crit` and `b64` are jose's business.
 *
 * @internal
 */
export function checkLogoutTokenHeader(header: unknown): void {
  if (!isJsonObject(header)) throw fail('malformed', 'the JOSE header is not a JSON object');
  if (!has(header, 'typ')) return;
  const typ = own(header, 'typ');
  if (typeof typ !== 'string' || !LOGOUT_TOKEN_TYPS.has(typ.toLowerCase())) {
    throw fail(
      'unsupported_typ',
      'header typ must be absent, JWT, logout+jwt, or one of them with application/ before it',
    );
  }
}

/**
 * Applies the claim rules of Back-Channel Logout 1.0 §2.4 and §2.6 (errata 1: `exp` required) to a
 * decoded payload, in this order: iss, aud, iat, exp (or the legacy age cap), nbf, jti, events,
 * nonce, sid/sub. Times are RFC 7519 NumericDates: a fraction is accepted, a value that is not a
 * finite number from 1970 to the year 9999 is refused (`claim_type_invalid`, naming the claim). Unknown claims are ignored (Keycloak sends `typ: "Logout"`). Throws a
 * {@link LogoutTokenError} naming the first rule that fails; messages never contain claim values.
 *
 * @internal
 */
export function checkLogoutTokenClaims(
  payload: unknown,
  expected: LogoutTokenClaimExpectations,
): VerifiedLogoutTokenClaims {
  if (!isJsonObject(payload)) throw fail('malformed', 'the payload is not a JSON object');
  const now = expected.nowSeconds;
  const tolerance = Math.max(0, expected.clockToleranceSeconds);
  const iss = checkIss(payload, expected.issuer);
  checkAud(payload, expected.clientId);
  const issuedAt = checkIat(payload, now, tolerance);
  const { exp, acceptableUntil } = checkExp(payload, issuedAt, now, tolerance, expected);
  checkNbf(payload, now, tolerance);
  const jti = checkJti(payload);
  const { events, event } = checkEvents(payload);
  // nonce: prohibited, whatever its value (even null).
  if (has(payload, 'nonce')) throw fail('nonce_present', 'nonce is prohibited');
  const { sid, sub } = checkSidAndSub(payload);

  const revokeOfflineAccess =
    own(events, 'revoke_offline_access') === true || own(event, 'revoke_offline_access') === true;

  // Whole seconds from here on (a tombstone keeps an integer), each rounded up, the direction that
  // keeps the logout effective: a later iat ends more logins, a later bound remembers the jti longer.
  const claims: VerifiedLogoutTokenClaims = {
    issuer: iss,
    clientId: expected.clientId,
    jti,
    iat: Math.ceil(issuedAt),
    revokeOfflineAccess,
    acceptableUntil: Math.ceil(acceptableUntil),
  };
  if (exp !== undefined) claims.exp = Math.ceil(exp);
  if (sid !== undefined) claims.sid = sid;
  if (sub !== undefined) claims.sub = sub;
  return claims;
}

type Payload = Record<string, unknown>;

/** iss: exact string equality (no normalisation, no trailing-slash leniency). */
function checkIss(payload: Payload, issuer: string): string {
  const iss = own(payload, 'iss');
  if (typeof iss !== 'string' || iss !== issuer) {
    throw fail('iss_mismatch', "iss is not the registration's issuer");
  }
  return iss;
}

/** aud: the client id, or an array of strings containing it. */
function checkAud(payload: Payload, clientId: string): void {
  const aud = own(payload, 'aud');
  if (Array.isArray(aud)) {
    if (!aud.every((entry) => typeof entry === 'string')) {
      throw fail('claim_type_invalid', 'aud is an array with a member that is not a string');
    }
    if (!aud.includes(clientId)) {
      throw fail('aud_mismatch', 'aud does not contain the client id');
    }
  } else if (aud === undefined) {
    throw fail('aud_mismatch', 'aud is missing');
  } else if (typeof aud !== 'string') {
    throw fail('claim_type_invalid', 'aud is neither a string nor an array of strings');
  } else if (aud !== clientId) {
    throw fail('aud_mismatch', 'aud is not the client id');
  }
}

/** iat: required, a sane NumericDate (a fraction allowed), not in the future beyond the tolerance. */
function checkIat(payload: Payload, now: number, tolerance: number): number {
  const iat = own(payload, 'iat');
  if (iat === undefined) throw fail('iat_missing', 'iat is missing');
  const iatProblem = numericDateProblem('iat', iat);
  if (iatProblem !== undefined) throw fail('claim_type_invalid', iatProblem);
  const issuedAt = iat as number;
  if (issuedAt > now + tolerance) throw fail('iat_in_future', 'iat is in the future');
  return issuedAt;
}

/**
 * exp: required (errata 1) unless legacy; when present, not passed beyond the tolerance. Returns it,
 * and until when the token is acceptable (legacy: `iat` plus the maximum age).
 */
function checkExp(
  payload: Payload,
  issuedAt: number,
  now: number,
  tolerance: number,
  expected: Pick<LogoutTokenClaimExpectations, 'legacy' | 'legacyMaxAgeSeconds'>,
): { exp: number | undefined; acceptableUntil: number } {
  const exp = own(payload, 'exp');
  if (exp === undefined) {
    if (!expected.legacy) {
      throw fail('exp_missing', 'exp is missing (enable legacy logout tokens for older OPs)');
    }
    const acceptableUntil = issuedAt + expected.legacyMaxAgeSeconds + tolerance;
    if (now > acceptableUntil) {
      throw fail('too_old', 'no exp and iat is older than the legacy maximum age');
    }
    return { exp: undefined, acceptableUntil };
  }
  const expProblem = numericDateProblem('exp', exp);
  if (expProblem !== undefined) throw fail('claim_type_invalid', expProblem);
  if ((exp as number) <= now - tolerance) throw fail('expired', 'exp has passed');
  return { exp: exp as number, acceptableUntil: (exp as number) + tolerance };
}

/** nbf (RFC 7519 §4.1.5): optional; when present, a sane NumericDate not ahead beyond the tolerance. */
function checkNbf(payload: Payload, now: number, tolerance: number): void {
  const nbf = own(payload, 'nbf');
  if (nbf === undefined) return;
  const nbfProblem = numericDateProblem('nbf', nbf);
  if (nbfProblem !== undefined) throw fail('claim_type_invalid', nbfProblem);
  if ((nbf as number) > now + tolerance) {
    throw fail('nbf_in_future', 'nbf is in the future: the token is not valid yet');
  }
}

/** jti: a non-empty string. */
function checkJti(payload: Payload): string {
  const jti = own(payload, 'jti');
  if (jti === undefined) throw fail('jti_missing', 'jti is missing');
  if (typeof jti !== 'string' || jti.length === 0) {
    throw fail('claim_type_invalid', 'jti is not a non-empty string');
  }
  return jti;
}

/** events: a JSON object whose back-channel logout member is a JSON object. */
function checkEvents(payload: Payload): { events: Payload; event: Payload } {
  const events = own(payload, 'events');
  if (!isJsonObject(events)) throw fail('events_invalid', 'events is not a JSON object');
  const event = own(events, BACKCHANNEL_LOGOUT_EVENT);
  if (!isJsonObject(event)) {
    throw fail('events_invalid', 'events has no back-channel logout member that is a JSON object');
  }
  return { events, event };
}

/** sid and sub: each a non-empty string when present; at least one present. */
function checkSidAndSub(payload: Payload): { sid?: string; sub?: string } {
  const sid = own(payload, 'sid');
  const sub = own(payload, 'sub');
  if (sid !== undefined && (typeof sid !== 'string' || sid.length === 0)) {
    throw fail('claim_type_invalid', 'sid is not a non-empty string');
  }
  if (sub !== undefined && (typeof sub !== 'string' || sub.length === 0)) {
    throw fail('claim_type_invalid', 'sub is not a non-empty string');
  }
  if (sid === undefined && sub === undefined) {
    throw fail('sid_or_sub_missing', 'neither sid nor sub is present');
  }
  return { sid, sub };
}
