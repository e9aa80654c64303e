import {
  HttpException,
  Inject,
  Injectable,
  Logger,
  Optional,
  ServiceUnavailableException,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
  type Type,
} from '@nestjs/common';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { LogoutService } from '../services/logout.service';
import { destroySession, sessionIdOf, type SessionRequest } from '../services/request-session';
import { loadNestPassport } from './optional-peers';
import { SessionIdFollower } from './session-id-follower';

/** Errors of passport-openidconnect and of the code exchange that mean "the OP cannot be reached". */
const UNAVAILABLE_ERRORS: ReadonlySet<string> = new Set(['InternalOAuthError']);
/** Errors that mean "this login is refused". */
const REFUSED_ERRORS: ReadonlySet<string> = new Set(['AuthorizationError', 'TokenError']);

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
        await this.forget(request, [before, sessionIdOf(request)]);
        if (isUnavailable(error)) throw this.unavailable(describe(error, undefined));
        throw error;
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
      const cause = unwrap(error);
      const reason = describe(cause, info);
      if (cause && isUnavailable(cause)) throw this.unavailable(reason);
      if (cause && !isRefusal(cause)) throw cause instanceof Error ? cause : new Error(reason);
      this.logger.warn(`Login refused: ${reason}`);
      throw new UnauthorizedException({
        error: 'login_failed',
        error_description: 'The login was refused; start again',
      });
    }

    private unavailable(reason: string): ServiceUnavailableException {
      this.logger.warn(`Login failed, OP or session store unavailable: ${reason}`);
      return new ServiceUnavailableException({
        error: 'temporarily_unavailable',
        error_description: 'The login service is unavailable; try again later',
      });
    }

    /**
     * Removes the records of a login that did not go through; when the store cannot, destroys the
     * request's session, so that a record left behind belongs to a dead session id.
     */
    private async forget(
      request: SessionRequest,
      sessionIds: ReadonlyArray<string | undefined>,
    ): Promise<void> {
      let failed = false;
      for (const id of new Set(sessionIds)) {
        if (id === undefined || !this.logoutService) continue;
        await this.logoutService.removeSession(id).catch(() => {
          failed = true;
        });
      }
      if (failed) await destroySession(request);
    }
  }
  return OidcLoginGuardMixin;
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
