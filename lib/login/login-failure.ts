import {
  HttpException,
  ServiceUnavailableException,
  UnauthorizedException,
  type Logger,
} from '@nestjs/common';
import { OidcLogoutError } from '../errors/oidc-logout.error';

/** Errors of passport-openidconnect and of the code exchange that mean "the OP cannot be reached". */
const UNAVAILABLE_ERRORS: ReadonlySet<string> = new Set(['InternalOAuthError']);
/** Errors that mean "this login is refused". */
const REFUSED_ERRORS: ReadonlySet<string> = new Set(['AuthorizationError', 'TokenError']);

/**
 * What `OidcLoginGuard.handleRequest` throws for passport's failed outcome (`error`, or no user with
 * passport's `info`): 503 `temporarily_unavailable` when the OP or the session store cannot be
 * reached, 401 `login_failed` for a refused login (both logged with the reason), any other error as
 * is (an `HttpException` of the application's `validate` among them).
 *
 * @internal
 */
export function authenticationFailure(error: unknown, info: unknown, logger: Logger): Error {
  const cause = unwrap(error);
  const reason = describe(cause, info);
  if (cause && isUnavailable(cause)) return unavailable(reason, logger);
  if (cause && !isRefusal(cause)) return cause instanceof Error ? cause : new Error(reason);
  logger.warn(`Login refused: ${reason}`);
  return new UnauthorizedException({
    error: 'login_failed',
    error_description: 'The login was refused; start again',
  });
}

/**
 * What `OidcLoginGuard.canActivate` throws when passport's `req.logIn` fails: 503 when the session
 * store cannot be reached (logged), else the error as is.
 *
 * @internal
 */
export function logInFailure(error: unknown, logger: Logger): unknown {
  return isUnavailable(error) ? unavailable(describe(error, undefined), logger) : error;
}

function unavailable(reason: string, logger: Logger): ServiceUnavailableException {
  logger.warn(`Login failed, OP or session store unavailable: ${reason}`);
  return new ServiceUnavailableException({
    error: 'temporarily_unavailable',
    error_description: 'The login service is unavailable; try again later',
  });
}

/**
 * The library's own error inside passport-openidconnect's `InternalOAuthError` (which wraps whatever
 * the code exchange fails with, e.g. a refused token response), else the error as is.
 */
function unwrap(error: unknown): unknown {
  if (error instanceof Error && error.name === 'InternalOAuthError') {
    const inner = (error as { oauthError?: unknown }).oauthError;
    if (inner instanceof OidcLogoutError) return inner;
  }
  return error;
}

/** The OP or the session store cannot answer now: a library error of status 503, or the OP unreachable. */
function isUnavailable(error: unknown): boolean {
  if (error instanceof OidcLogoutError) return error.getStatus() === 503;
  return error instanceof Error && UNAVAILABLE_ERRORS.has(error.name);
}

/**
 * This login is refused (401): a library error of a 4xx status, or passport-openidconnect's refusals.
 * Any other `HttpException` (thrown by the application's `validate`) and any other error go on as is.
 */
function isRefusal(error: unknown): boolean {
  if (error instanceof OidcLogoutError) {
    const status = error.getStatus();
    return status >= 400 && status < 500;
  }
  if (error instanceof HttpException) return false;
  return error instanceof Error && REFUSED_ERRORS.has(error.name);
}

/**
 * Why a login failed, for the log: codes and library messages only, never tokens or session ids.
 * Everything that may come from the request (the callback's `error` and `error_description`) is
 * reduced to printable ASCII and bounded, so that it cannot forge log lines.
 */
function describe(error: unknown, info: unknown): string {
  if (error instanceof OidcLogoutError) return printable(`${error.code}: ${error.message}`, 300);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${printable(error.name, 64)}${typeof code === 'string' ? ` (${printable(code, 64)})` : ''}`;
  }
  const message = (info as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? printable(message, 200) : 'no user';
}

/** `text` with every character outside printable ASCII (newlines, escapes, Unicode) as `?`, bounded. */
function printable(text: string, max: number): string {
  return text.slice(0, max).replace(/[^\x20-\x7e]/g, '?');
}
