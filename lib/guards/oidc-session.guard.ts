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
import { sessionHadLogin } from '../services/session-login-mark';
import { SKIP_OIDC_SESSION_KEY } from '../oidc-logout.constants';
import { IS_ACTIVE_NOW, LogoutService, TELEMETRY } from '../services/logout.service';
import type { GuardResult } from '../telemetry/telemetry-names';
import { destroySession, sessionIdOf, type SessionRequest } from '../services/request-session';

/** The refusal of a session that held a recorded login, since ended (revoked, expired, replaced). */
const SESSION_ENDED_MESSAGE = 'Your session has ended; log in again';
/** The refusal of a visitor whose session never held a login: nothing ended. */
const SIGN_IN_MESSAGE = 'Sign in to continue';

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
 * A GraphQL resolver is guarded by the HTTP request in its context (`req` with Apollo,
 * `reply.request` with Mercurius); refused without one. WebSocket and RPC contexts are passed
 * through (they carry no HTTP session); any other context type is refused.
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

  /**
   * `true` at once when the session is live and the repository answers synchronously (the in-memory
   * one); otherwise a promise, which rejects with the 401, 302 or 503 `HttpException`. It never
   * throws synchronously.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    // The common case allocates nothing of its own beyond the digest of the session id: no async
    // frame, no HttpArgumentsHost (switchToHttp() makes one per call), no record, no promise.
    let request: GuardRequest | undefined;
    let active: boolean | Promise<boolean>;
    // The clock is read only when an OpenTelemetry SDK records the guard's metrics.
    let startedAt: number;
    try {
      const type = context.getType<string>();
      if (type === 'ws' || type === 'rpc' || this.shouldSkip(context)) return true;
      startedAt = this.logoutService[TELEMETRY]?.now() ?? 0;
      request =
        type === 'http'
          ? context.getArgByIndex<GuardRequest>(0)
          : type === 'graphql'
            ? graphqlRequest(context)
            : undefined;
      // A GraphQL context without its request, or a context type not known here: refused.
      if (request === undefined) {
        this.#decided('unknown', startedAt);
        return Promise.reject(new UnauthorizedException(SIGN_IN_MESSAGE));
      }
      const sessionId = this.getClientSessionId(request);
      if (sessionId === undefined) return this.#refuse(context, request, false, startedAt);
      try {
        active = this.logoutService[IS_ACTIVE_NOW](sessionId);
      } catch (error) {
        // A store that throws rather than rejects is just as unavailable.
        return Promise.reject(this.#storeUnavailable(error, startedAt));
      }
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- as thrown, like an async function
      return Promise.reject(error);
    }
    if (active === true) {
      this.#decided('active', startedAt);
      return true;
    }
    return this.#settle(context, request, active, startedAt);
  }

  /** Whether `@SkipOidcSession()` exempts the handler or its controller. */
  protected shouldSkip(context: ExecutionContext): boolean {
    // getAllAndOverride's semantics (the handler's value, else the class's) without its array of
    // targets, which the JIT does not always elide.
    let skip = this.reflector.get<boolean | undefined>(SKIP_OIDC_SESSION_KEY, context.getHandler());
    if (skip === undefined) {
      skip = this.reflector.get<boolean | undefined>(SKIP_OIDC_SESSION_KEY, context.getClass());
    }
    return skip === true;
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

  /**
   * Answers a request without a live session: 302 to `loginUrl` for HTML, 401 JSON otherwise. The
   * message says "Your session has ended" when the session held a recorded login (`sessionEnded`),
   * "Sign in to continue" to a visitor who never logged in; the answer is the same either way.
   */
  protected rejectSession(
    request: GuardRequest,
    response: GuardResponse,
    sessionEnded = true,
  ): never {
    const message = sessionEnded ? SESSION_ENDED_MESSAGE : SIGN_IN_MESSAGE;
    const loginUrl = this.logoutService.loginUrl;
    if (loginUrl !== undefined && this.prefersHtml(request)) {
      if (typeof response.header === 'function') response.header('Location', loginUrl);
      else response.setHeader?.('Location', loginUrl);
      throw new HttpException({ statusCode: HttpStatus.FOUND, message }, HttpStatus.FOUND);
    }
    throw new UnauthorizedException(message);
  }

  // Private by `#`: no name a subclass may use is taken.

  /** Waits for the store's answer (when it is a promise), then lets through or refuses. */
  async #settle(
    context: ExecutionContext,
    request: GuardRequest,
    answer: boolean | Promise<boolean>,
    startedAt: number,
  ): Promise<boolean> {
    let active: boolean;
    try {
      active = await answer;
    } catch (error) {
      throw this.#storeUnavailable(error, startedAt);
    }
    if (!active) return this.#refuse(context, request, true, startedAt);
    this.#decided('active', startedAt);
    return true;
  }

  /**
   * Refuses the request, after destroying its local session when it had one. Whether that session
   * held a login is read first (destroying it drops the mark): it only picks the message.
   */
  async #refuse(
    context: ExecutionContext,
    request: GuardRequest,
    hadSession: boolean,
    startedAt: number,
  ): Promise<never> {
    const sessionEnded = hadSession && sessionHadLogin(request);
    this.#decided(sessionEnded ? 'revoked' : 'unknown', startedAt);
    if (hadSession) await this.endLocalSession(request);
    // A GraphQL client gets its 401 as an error: a redirect means nothing there.
    if (context.getType<string>() === 'graphql') {
      throw new UnauthorizedException(sessionEnded ? SESSION_ENDED_MESSAGE : SIGN_IN_MESSAGE);
    }
    return this.rejectSession(request, context.getArgByIndex<GuardResponse>(1), sessionEnded);
  }

  /** Counts the decision (`oidc_logout.guard.decisions`) and its time since `startedAt`. */
  #decided(result: GuardResult, startedAt: number): void {
    this.logoutService[TELEMETRY]?.guardDecision(result, startedAt);
  }

  /** The 503 for a store that could not answer, logged without the error's details. */
  #storeUnavailable(error: unknown, startedAt: number): ServiceUnavailableException {
    this.#decided('store_unavailable', startedAt);
    const code = error instanceof OidcLogoutError ? error.code : 'ERR_REPOSITORY_UNAVAILABLE';
    this.logger.error(`Session store unavailable (${code}); request refused (fail closed)`);
    return new ServiceUnavailableException('The session store is unavailable; try again later');
  }
}

/** What a GraphQL driver puts in a resolver's context: `req` (Apollo, Mercurius), `reply`. */
interface GraphqlContext {
  req?: unknown;
  reply?: { request?: unknown };
}

/**
 * The HTTP request of a GraphQL resolver's context, if it has one: `req` (Apollo, and Mercurius
 * through Nest), else Mercurius's `reply.request`. Something without headers (the `req` Nest makes
 * of a graphql-ws subscription's connection) is no HTTP request.
 */
function graphqlRequest(context: ExecutionContext): GuardRequest | undefined {
  const graphql = context.getArgByIndex<GraphqlContext | undefined>(2);
  if (typeof graphql !== 'object' || graphql === null) return undefined;
  for (const candidate of [graphql.req, graphql.reply?.request]) {
    if (isHttpRequest(candidate)) return candidate;
  }
  return undefined;
}

function isHttpRequest(value: unknown): value is GuardRequest {
  if (typeof value !== 'object' || value === null) return false;
  const headers = (value as { headers?: unknown }).headers;
  return typeof headers === 'object' && headers !== null;
}
