import type { SessionRequest } from './request-session';

/**
 * A mark, in the application's session, that a login was recorded for it: written by
 * `LogoutService.recordLogin` (with the request's own mark, see `markLoginRecorded`) and carried by
 * the login's own session regenerate (see `SessionIdFollower`), so that it lives exactly as long as
 * the session that holds the login.
 *
 * It only picks the words of the guard's refusal ("Your session has ended" for a session that held a
 * login, "Sign in to continue" otherwise): it never decides whether a request passes, so a session
 * store or cookie that loses or forges it changes no decision. Session stores serialise it with the
 * session (a string key, `true`); it holds no id or token.
 *
 * @internal
 */
export const SESSION_LOGIN_MARK = 'oidc-logout:logged-in';

type MarkedSession = Record<string, unknown>;

/** Marks the request's session (when it has one) as holding a recorded login. @internal */
export function markSessionLoggedIn(request: SessionRequest): void {
  const session = request.session as MarkedSession | undefined;
  if (session !== null && typeof session === 'object') session[SESSION_LOGIN_MARK] = true;
}

/** Takes the mark off the request's session: its login did not go through after all. @internal */
export function clearSessionLoginMark(request: SessionRequest): void {
  const session = request.session as MarkedSession | undefined;
  if (session !== null && typeof session === 'object') delete session[SESSION_LOGIN_MARK];
}

/** Whether the request's session holds the mark of a recorded login (exactly `true`). @internal */
export function sessionHadLogin(request: SessionRequest): boolean {
  const session = request.session as MarkedSession | undefined;
  return session !== null && typeof session === 'object' && session[SESSION_LOGIN_MARK] === true;
}

/** Copies the mark from the session a login was recorded for to its regenerated one. @internal */
export function carrySessionLoginMark(from: object, to: object): void {
  if ((from as MarkedSession)[SESSION_LOGIN_MARK] === true) {
    (to as MarkedSession)[SESSION_LOGIN_MARK] = true;
  }
}
