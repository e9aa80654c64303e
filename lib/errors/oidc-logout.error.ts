/**
 * Stable machine-readable codes carried by every {@link OidcLogoutError}.
 *
 * The HTTP edge maps them to `{"error":"invalid_request","error_description":...}`; code that catches
 * them inside the application can switch on `code` safely: codes are never renamed within a major.
 *
 * @publicApi
 */
export type OidcLogoutErrorCode =
  | 'ERR_OIDC_LOGOUT_GENERIC'
  | 'ERR_INVALID_OPTIONS'
  | 'ERR_UNKNOWN_REGISTRATION'
  | 'ERR_DISCOVERY_FAILED'
  | 'ERR_ID_TOKEN_INVALID'
  | 'ERR_LOGOUT_TOKEN_INVALID'
  | 'ERR_INVALID_REQUEST'
  | 'ERR_NO_SESSION'
  | 'ERR_SESSION_ENDED'
  | 'ERR_REPOSITORY_UNAVAILABLE';

/**
 * Base class of every error the library throws on purpose.
 *
 * @publicApi
 */
export class OidcLogoutError extends Error {
  /** A stable code; see {@link OidcLogoutErrorCode}. */
  readonly code: OidcLogoutErrorCode;

  constructor(code: OidcLogoutErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * Thrown at startup when `OidcLogoutModule` options are wrong. The message names the option, the value
 * and the fix.
 *
 * @publicApi
 */
export class OidcLogoutOptionsError extends OidcLogoutError {
  constructor(message: string) {
    super('ERR_INVALID_OPTIONS', message);
  }
}

/**
 * Thrown when the session-correlation repository (the database behind it) fails. The guard turns it
 * into a 503: it fails closed, never open.
 *
 * @publicApi
 */
export class OidcSessionRepositoryError extends OidcLogoutError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_REPOSITORY_UNAVAILABLE', message, options);
  }
}
