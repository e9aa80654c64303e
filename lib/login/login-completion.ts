import { decodeJwt } from 'jose';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { LogoutService } from '../services/logout.service';
import { destroySession, sessionIdOf, type SessionRequest } from '../services/request-session';
import { clearSessionLoginMark } from '../services/session-login-mark';
import type {
  OidcLogin,
  OidcLoginUser,
  ResolvedOidcLoginStrategyOptions,
} from './oidc-login.options';

/**
 * The verify step of one registration's login: the ID token the OP sent becomes a recorded login and
 * the passport user, or the login fails and leaves no record behind.
 *
 * @internal
 */
export class OidcLoginCompletion {
  constructor(
    private readonly options: ResolvedOidcLoginStrategyOptions,
    private readonly registration: ResolvedClientRegistration,
    private readonly logoutService: LogoutService,
  ) {}

  /**
   * Records the login for the request's session with the raw ID token, which `recordLogin` verifies
   * first (signature by the OP's keys, `iss`, `aud`, `exp`); then maps it to the passport user.
   * Resolves `false` (login refused) when `validate` refuses it; every failure after the record was
   * saved removes it again.
   */
  async complete(request: SessionRequest, idToken: unknown): Promise<unknown> {
    if (typeof idToken !== 'string' || idToken.length === 0) {
      throw new OidcLogoutError('ERR_ID_TOKEN_INVALID', 'ID token rejected: the OP sent none');
    }
    const { registrationId } = this.registration;
    const info = await this.logoutService.recordLogin(request, idToken, { registrationId });
    try {
      const claims = decodeJwt(idToken); // verified by recordLogin above
      const login: OidcLogin = {
        registrationId,
        issuer: info.issuer,
        clientId: info.clientId,
        sub: info.sub,
        claims,
      };
      // The OP's sid itself (the record keeps its digest).
      if (typeof claims.sid === 'string') login.sid = claims.sid;
      const user = this.options.validate
        ? await this.options.validate(login, request)
        : defaultUser(login);
      if (!user) await this.forget(request);
      return user || false;
    } catch (error) {
      await this.forget(request);
      throw error;
    }
  }

  /**
   * Removes the record of a login that did not go through. Never rejects: when the store cannot
   * remove it, the session itself is destroyed, so that the record it leaves behind belongs to a dead
   * session id and never passes the guard once the store is back.
   */
  private async forget(request: SessionRequest): Promise<void> {
    clearSessionLoginMark(request);
    const sessionId = sessionIdOf(request);
    if (sessionId === undefined) return;
    try {
      await this.logoutService.removeSession(sessionId);
    } catch {
      await destroySession(request);
    }
  }
}

function defaultUser(login: OidcLogin): OidcLoginUser {
  const user: OidcLoginUser = {
    registrationId: login.registrationId,
    issuer: login.issuer,
    sub: login.sub,
  };
  if (login.sid !== undefined) user.sid = login.sid;
  return user;
}
