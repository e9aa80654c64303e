import { markSessionLoggedIn } from './session-login-mark';

/**
 * Which session a login was recorded for during the current request. Set by
 * `LogoutService.recordLogin` once the record is saved; read by the session-id follower, which lets a
 * login record cross a session regenerate only when it is the login being made in this very request
 * (passport's `req.logIn` right after `recordLogin`, as `OidcLoginGuard` does). A regenerate in any
 * other request (passport's `req.logout()`, an application's own) carries nothing.
 *
 * The mark is a property under a module-private symbol: nothing a client sends can set it.
 *
 * @internal
 */
const RECORDED_LOGIN = Symbol('nest-oidc-logout:recorded-login');

/** Which record the login of this request wrote: a concurrent login of the same session may replace it. */
export interface RecordedLogin {
  /** Raw session id. */
  sessionId: string;
  /** `createdAt` (epoch ms) and `sub` of the record written, when known. */
  createdAt?: number;
  sub?: string;
}

type Marked = { [RECORDED_LOGIN]?: RecordedLogin };

/**
 * Marks `request` as having recorded a login for the (raw) session id `sessionId`; with the record's
 * identity, so that only that very record crosses the regenerate. Its session gets the lasting mark
 * of a login too (see `markSessionLoggedIn`). @internal
 */
export function markLoginRecorded(
  request: object,
  sessionId: string,
  record?: { createdAt: Date; sub: string },
): void {
  const value: RecordedLogin = record
    ? { sessionId, createdAt: record.createdAt.getTime(), sub: record.sub }
    : { sessionId };
  Object.defineProperty(request, RECORDED_LOGIN, {
    configurable: true,
    enumerable: false,
    writable: true,
    value,
  });
  markSessionLoggedIn(request);
}

/** The login this request recorded, if any. @internal */
export function recordedLogin(request: object): RecordedLogin | undefined {
  return (request as Marked)[RECORDED_LOGIN];
}

/** Consumes the mark: the login's own regenerate carries its record once, never a later one. */
export function clearLoginRecorded(request: object): void {
  delete (request as Marked)[RECORDED_LOGIN];
}
