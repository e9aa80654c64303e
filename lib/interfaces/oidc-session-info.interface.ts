/**
 * One correlation between an application session and the OpenID Provider session that created it,
 * as recorded at login. Mirrors Spring Security's `OidcSessionInformation`.
 *
 * @publicApi
 */
export interface OidcSessionInfo {
  /**
   * SHA-256 digest (base64url, 43 characters) of the application's session id. The library hashes the
   * session id before it reaches any repository, so a database leak hands out no usable session id.
   */
  clientSessionId: string;
  /** The `registrationId` of the {@link OidcClientRegistration} that logged the user in. */
  registrationId: string;
  /** The OP's issuer identifier (`iss` of the ID token), exactly. */
  issuer: string;
  /** The client id (`aud`) the ID token was issued to. */
  clientId: string;
  /**
   * The digest of the OP session id (`hashSid(sid)` of the ID token's `sid` claim: `sha256:` and 43
   * base64url characters), when the OP sends one. The library hashes the sid before it reaches any
   * repository, so that a database leak hands out no sid a front-channel logout request could use;
   * listeners get this digest too (an `OidcRevocationEvent`'s own `sid` is the sid in clear).
   */
  sid?: string;
  /** The subject (`sub` claim of the ID token). */
  sub: string;
  /** The raw ID token, sent back as `id_token_hint` at RP-initiated logout. */
  idToken: string;
  /** When the record may be forgotten; a record past this instant is treated as absent. */
  expiresAt: Date;
  /** When the login was recorded. */
  createdAt: Date;
}

/**
 * What a verified logout (a back-channel logout token, a front-channel request, an administrative
 * revocation) identifies: the OP session `sid`, or every session of `sub`, of one issuer and client.
 *
 * At least one of `sid` and `sub` is present. With `sid`, exactly that OP session is meant (and when
 * `sub` is given too, it must match as well); with `sub` alone, every session of that user.
 *
 * @publicApi
 */
export interface OidcLogoutCriteria {
  issuer: string;
  clientId: string;
  /** The digest of the OP session id (`hashSid`), compared with the stored `OidcSessionInfo.sid`. */
  sid?: string;
  sub?: string;
}
