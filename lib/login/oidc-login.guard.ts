import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type CanActivate,
  type ExecutionContext,
  type Type,
} from '@nestjs/common';
import { LogoutService } from '../services/logout.service';
import { destroySession, sessionIdOf, type SessionRequest } from '../services/request-session';
import { authenticationFailure, logInFailure } from './login-failure';
import { loadNestPassport } from './optional-peers';
import { SessionIdFollower } from './session-id-follower';

/**
 * The instance type of the guards {@link OidcLoginGuard} returns (an @nestjs/passport `AuthGuard`), with
 * the method a subclass overrides to answer differently.
 *
 * @publicApi
 */
export interface OidcLoginGuardInstance extends CanActivate {
  /**
   * Passport's outcome as the user, or the exception to answer with: 401 `login_failed` for a refused
   * login, 503 `temporarily_unavailable` when the OP or the session store cannot be reached.
   */
  handleRequest<TUser = unknown>(
    error: unknown,
    user: unknown,
    info: unknown,
    context: ExecutionContext,
    status?: unknown,
  ): TUser;
}

const guards = new Map<string, Type<OidcLoginGuardInstance>>();

/**
 * The guard of the login and callback routes of a strategy made by
 * {@link createOidcLoginStrategyProvider}: an `AuthGuard(strategyName)` of @nestjs/passport that, once
 * the OP's answer is accepted, logs the user in (`req.logIn`: passport regenerates the session, and
 * the login record follows the new session id). Like `AuthGuard`, it is a function that returns a
 * guard class, the same class for the same name:
 *
 * ```ts
 * @Get('login') @UseGuards(OidcLoginGuard('oidc:main')) login() {}
 * @Get('login/callback') @UseGuards(OidcLoginGuard('oidc:main'))
 * callback(@Res() res: Response) { res.redirect('/'); }
 * ```
 *
 * On the login route passport answers with the redirect to the OP and the handler does not run. A
 * refused login (bad `state`, a nonce or ID token that fails verification, an OP error) is a 401, an
 * OP or session store that cannot be reached a 503, both as `{error, error_description}` JSON; the
 * reason is logged. Exempt both routes from a global `OidcSessionGuard` with `@SkipOidcSession()`.
 * Subclass the returned class to change `handleRequest` (e.g. redirect to an error page).
 *
 * @publicApi
 */
export function OidcLoginGuard(strategyName: string): Type<OidcLoginGuardInstance> {
  let guard = guards.get(strategyName);
  if (!guard) {
    guard = createOidcLoginGuard(strategyName);
    guards.set(strategyName, guard);
  }
  return guard;
}

function createOidcLoginGuard(strategyName: string): Type<OidcLoginGuardInstance> {
  const { AuthGuard } = loadNestPassport('OidcLoginGuard');

  @Injectable()
  class OidcLoginGuardMixin extends AuthGuard(strategyName) {
    protected readonly logger = new Logger('OidcLoginGuard');

    @Optional()
    @Inject(SessionIdFollower)
    protected readonly sessionIdFollower?: SessionIdFollower;

    @Optional()
    @Inject(LogoutService)
    protected readonly logoutService?: LogoutService;

    override async canActivate(context: ExecutionContext): Promise<boolean> {
      // Resolves on the callback only: on the login route passport ends the request with a redirect.
      const authenticated = (await super.canActivate(context)) as boolean;
      if (!authenticated) return false;
      const request = this.getRequest(context) as SessionRequest & {
        logIn: (...args: never[]) => unknown;
      };
      const before = sessionIdOf(request);
      // Also when the module's middleware does not run on this route (a wrapped session stays as is).
      this.sessionIdFollower?.follow(request);
      try {
        await super.logIn(request);
      } catch (error) {
        // The login was recorded (for the old or, after regenerate, the new session): forget it.
        await forgetLogIn(this.logoutService, request, [before, sessionIdOf(request)]);
        throw logInFailure(error, this.logger);
      }
      return true;
    }

    override handleRequest<TUser = unknown>(
      error: unknown,
      user: unknown,
      info: unknown,
      _context: ExecutionContext,
      _status?: unknown,
    ): TUser {
      if (!error && user) return user as TUser;
      throw authenticationFailure(error, info, this.logger);
    }
  }
  return OidcLoginGuardMixin;
}

/**
 * Removes the records of a login that did not go through; when the store cannot, destroys the
 * request's session, so that a record left behind belongs to a dead session id.
 */
async function forgetLogIn(
  logoutService: LogoutService | undefined,
  request: SessionRequest,
  sessionIds: ReadonlyArray<string | undefined>,
): Promise<void> {
  let failed = false;
  for (const id of new Set(sessionIds)) {
    if (id === undefined || !logoutService) continue;
    await logoutService.removeSession(id).catch(() => {
      failed = true;
    });
  }
  if (failed) await destroySession(request);
}
