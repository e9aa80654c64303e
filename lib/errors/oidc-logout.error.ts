import { HttpException } from '@nestjs/common';

/**
 * Stable machine-readable codes carried by every {@link OidcLogoutError}.
 *
 * Each code has one HTTP status ({@link OIDC_LOGOUT_ERROR_STATUS}); code that catches the errors inside
 * the application can switch on `code` safely: codes are never renamed within a major.
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
 * The HTTP status of each {@link OidcLogoutErrorCode}, the one place where a code meets HTTP: a refused
 * login or ended session is a 401, a malformed request a 400, an OP or store that cannot answer a
 * 503 (try again later), a misconfiguration or a bug a 500.
 *
 * @publicApi
 */
export const OIDC_LOGOUT_ERROR_STATUS: Readonly<Record<OidcLogoutErrorCode, number>> =
  Object.freeze({
    ERR_OIDC_LOGOUT_GENERIC: 500,
    ERR_INVALID_OPTIONS: 500,
    ERR_UNKNOWN_REGISTRATION: 400,
    ERR_DISCOVERY_FAILED: 503,
    ERR_ID_TOKEN_INVALID: 401,
    ERR_LOGOUT_TOKEN_INVALID: 400,
    ERR_INVALID_REQUEST: 400,
    ERR_NO_SESSION: 401,
    ERR_SESSION_ENDED: 401,
    ERR_REPOSITORY_UNAVAILABLE: 503,
  });

/**
 * The JSON body Nest sends for an {@link OidcLogoutError} that reaches the HTTP edge: the status, the
 * code, and the error's message for a 4xx (library messages name rules, never tokens, claim values or
 * session ids) or a fixed sentence for a 5xx (whose message may name a registration or a URL). Never a
 * stack or a cause.
 *
 * @publicApi
 */
export interface OidcLogoutErrorBody {
  statusCode: number;
  error: OidcLogoutErrorCode;
  message: string;
}

const SERVER_SIDE_MESSAGES: Readonly<Record<number, string>> = {
  503: 'The identity provider or the session store is unavailable; try again later',
};
const SERVER_ERROR_MESSAGE = 'The login service failed';

/**
 * Base class of every error the library throws on purpose. It is an `HttpException` whose status
 * comes from its code ({@link OIDC_LOGOUT_ERROR_STATUS}), so that one that reaches Nest's exception
 * layer (e.g. from `LogoutService.recordLogin` in an application's own login route) is answered with
 * that status and an {@link OidcLogoutErrorBody}, without an exception filter, and is not logged as an
 * unexpected error.
 *
 * @publicApi
 */
export class OidcLogoutError extends HttpException {
  /** A stable code; see {@link OidcLogoutErrorCode}. */
  readonly code: OidcLogoutErrorCode;

  constructor(code: OidcLogoutErrorCode, message: string, options?: { cause?: unknown }) {
    const status = OIDC_LOGOUT_ERROR_STATUS[code] ?? 500;
    const body: OidcLogoutErrorBody = {
      statusCode: status,
      error: code,
      message: status < 500 ? message : (SERVER_SIDE_MESSAGES[status] ?? SERVER_ERROR_MESSAGE),
    };
    super(body, status, options?.cause === undefined ? undefined : { cause: options.cause });
    // The detailed message stays on the error (for logs and callers), not in the HTTP body of a 5xx.
    this.message = message;
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
