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

type Marked = { [RECORDED_LOGIN]?: string };

/** Marks `request` as having recorded a login for the (raw) session id `sessionId`. @internal */
export function markLoginRecorded(request: object, sessionId: string): void {
  Object.defineProperty(request, RECORDED_LOGIN, {
    configurable: true,
    enumerable: false,
    writable: true,
    value: sessionId,
  });
}

/** The (raw) session id a login was recorded for in this request, if any. @internal */
export function loginRecordedIn(request: object): string | undefined {
  return (request as Marked)[RECORDED_LOGIN];
}
