import {
  CanActivate,
  ExecutionContext,
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { SKIP_OIDC_SESSION_KEY } from '../oidc-logout.constants';
import { LogoutService } from '../services/logout.service';
import { destroySession, sessionIdOf, type SessionRequest } from '../services/request-session';

interface GuardRequest extends SessionRequest {
  headers: Record<string, string | string[] | undefined>;
}

interface GuardResponse {
  header?: (name: string, value: string) => unknown;
  setHeader?: (name: string, value: string) => unknown;
}

/**
 * Lets a request through only when its session was recorded by `LogoutService.recordLogin` and has
 * not been ended since (by back-channel, front-channel or RP-initiated logout, on any instance).
 * Otherwise it destroys the local session and answers 401 JSON, or a 302 to `loginUrl` for a request
 * that prefers HTML. When the session store cannot answer it fails closed with 503.
 *
 * Use it per route (`@UseGuards(OidcSessionGuard)`) or globally (`APP_GUARD`), and exempt public
 * routes with `@SkipOidcSession()`. Subclass it and override the protected methods to adapt it.
 * Non-HTTP contexts (WebSocket, RPC) are passed through: they carry no HTTP session.
 *
 * @publicApi
 */
@Injectable()
export class OidcSessionGuard implements CanActivate {
  protected readonly logger = new Logger('OidcSessionGuard');

  constructor(
    protected readonly logoutService: LogoutService,
    protected readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http' || this.shouldSkip(context)) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<GuardRequest>();
    const sessionId = this.getClientSessionId(request);
    if (sessionId !== undefined) {
      let active: boolean;
      try {
        active = await this.logoutService.isActive(sessionId);
      } catch (error) {
        const code = error instanceof OidcLogoutError ? error.code : 'ERR_REPOSITORY_UNAVAILABLE';
        this.logger.error(`Session store unavailable (${code}); request refused (fail closed)`);
        throw new ServiceUnavailableException('The session store is unavailable; try again later');
      }
      if (active) return true;
      await this.endLocalSession(request);
    }
    return this.rejectSession(request, http.getResponse<GuardResponse>());
  }

  /** Whether `@SkipOidcSession()` exempts the handler or its controller. */
  protected shouldSkip(context: ExecutionContext): boolean {
    return (
      this.reflector.getAllAndOverride<boolean | undefined>(SKIP_OIDC_SESSION_KEY, [
        context.getHandler(),
        context.getClass(),
      ]) === true
    );
  }

  /** The application session id the login was recorded for. */
  protected getClientSessionId(request: GuardRequest): string | undefined {
    return sessionIdOf(request);
  }

  /** Destroys the local session of a request whose OIDC session has ended. */
  protected async endLocalSession(request: GuardRequest): Promise<void> {
    const error = await destroySession(request);
    if (error) this.logger.warn('Could not destroy a local session whose OIDC session had ended');
  }

  /** Whether the request prefers an HTML page (a browser navigation) to JSON. */
  protected prefersHtml(request: GuardRequest): boolean {
    const accept = request.headers.accept;
    const value = Array.isArray(accept) ? accept.join(',') : (accept ?? '');
    return /\btext\/html\b/i.test(value) && !/^\s*application\/json\b/i.test(value);
  }

  /** Answers a request without a live session: 302 to `loginUrl` for HTML, 401 JSON otherwise. */
  protected rejectSession(request: GuardRequest, response: GuardResponse): never {
    const loginUrl = this.logoutService.loginUrl;
    if (loginUrl !== undefined && this.prefersHtml(request)) {
      if (typeof response.header === 'function') response.header('Location', loginUrl);
      else response.setHeader?.('Location', loginUrl);
      throw new HttpException(
        { statusCode: HttpStatus.FOUND, message: 'Your session has ended; log in again' },
        HttpStatus.FOUND,
      );
    }
    throw new UnauthorizedException('Your session has ended; log in again');
  }
}
