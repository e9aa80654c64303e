import { Inject, Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { errorType } from '../errors/error-type';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import { LogoutService } from '../services/logout.service';
import { destroySession, sessionIdOf, type SessionRequest } from '../services/request-session';
import { clearSidOf } from '../services/session-sid';
import { setNoStore } from '../http/http-response';
import { registrationIdOf } from './route-params';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';
import { SPAN } from '../telemetry/telemetry-names';

/** The longest `sid` accepted; OPs use UUIDs or similar (Keycloak, Entra ID: 36 characters). */
export const FRONT_CHANNEL_MAX_SID_LENGTH = 512;

/**
 * The page every handled request gets, whatever happened: it tells nobody (not the OP, not someone
 * probing with guessed values) whether a session matched.
 */
const PAGE =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Logout</title></head>' +
  '<body><p>Logout request processed.</p></body></html>';
const FAILURE_PAGE =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Logout</title></head>' +
  '<body><p>The logout could not be completed.</p></body></html>';
const METHOD_PAGE =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Logout</title></head>' +
  '<body><p>Method not allowed.</p></body></html>';

interface RoutedRequest extends IncomingMessage, SessionRequest {
  params?: Record<string, string | undefined>;
  originalUrl?: string;
}

/** What a front-channel request asks for, once its parameters are checked. */
type FrontChannelDecision =
  | { action: 'revoke-sid'; sid: string }
  | { action: 'revoke-cookie-session' }
  | { action: 'reject'; reason: string };

/**
 * `GET {routes.frontChannel}/:registrationId?iss=&sid=`: Front-Channel Logout 1.0, the page the OP
 * renders in an iframe. The OP session is ended through the server-side correlation from `iss` and
 * `sid` alone: browsers block third-party cookies, so the iframe usually arrives without the app's
 * session cookie. Creates no session and sets no cookie.
 *
 * Every GET is answered 200 with the same small page, also when nothing was revoked (unknown
 * registration, front channel disabled, wrong or missing parameters, no matching session): the OP
 * ignores the answer and the page must not tell whether a `sid` exists. Each refusal logs one
 * structured line with its reason. A failing session store answers 503 with a generic page and logs
 * an error. Other methods get 405 (`Allow: GET, HEAD`); HEAD gets the headers and changes nothing.
 *
 * Every answer is `Cache-Control: no-store`, `Referrer-Policy: no-referrer` and frameable only by the
 * OP: `Content-Security-Policy: default-src 'none'; ...; frame-ancestors <origin of the issuer>`
 * (`'none'` for an unknown registration), with any `X-Frame-Options` or CSP that an app-wide
 * middleware such as helmet set before removed or replaced.
 *
 * @internal
 */
@Injectable()
export class FrontChannelLogoutHandler implements NestMiddleware {
  private readonly logger = new Logger('OidcFrontChannelLogout');

  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS) private readonly options: ResolvedOidcLogoutOptions,
    private readonly logoutService: LogoutService,
    private readonly telemetry: OidcTelemetry,
  ) {}

  /** Handles the request in a span of its own (`oidc_logout front-channel`). */
  use(request: RoutedRequest, response: ServerResponse): Promise<void> {
    const registrationId = registrationIdOf(request);
    return this.telemetry.inSpan(SPAN.frontChannel, registrationId, () =>
      this.handle(request, response, registrationId),
    );
  }

  private async handle(
    request: RoutedRequest,
    response: ServerResponse,
    registrationId: string,
  ): Promise<void> {
    const registration = this.options.clients.find((c) => c.registrationId === registrationId);
    const frameAncestor = registration ? originOf(registration.issuer) : undefined;
    const method = request.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      detachSession(request);
      this.telemetry.logoutRequest('front-channel', registrationId, 'refused', 'method');
      return sendPage(response, 405, METHOD_PAGE, frameAncestor, { Allow: 'GET, HEAD' });
    }
    if (method === 'HEAD') {
      // A HEAD is safe by definition (link checkers, prefetchers): it must not log anyone out.
      detachSession(request);
      return sendPage(response, 200, PAGE, frameAncestor);
    }
    if (!registration) {
      detachSession(request);
      return this.reject(response, undefined, 'unknown_registration');
    }
    if (registration.frontChannel === false) {
      detachSession(request);
      return this.reject(response, registration, 'front_channel_disabled');
    }
    const decision = decide(registration, requestQuery(request));
    if (decision.action === 'reject') {
      detachSession(request);
      return this.reject(response, registration, decision.reason);
    }
    try {
      await this.revoke(registration, decision, request);
    } catch (error) {
      detachSession(request);
      const code = error instanceof OidcLogoutError ? error.code : undefined;
      const unavailable = code === 'ERR_REPOSITORY_UNAVAILABLE';
      const reason = unavailable ? 'repository_unavailable' : errorType(error);
      this.logger.error({
        event: 'oidc_front_channel_logout_failed',
        registrationId: registration.registrationId,
        reason,
      });
      this.telemetry.logoutRequest('front-channel', registrationId, 'failed', reason);
      return sendPage(response, unavailable ? 503 : 500, FAILURE_PAGE, frameAncestor);
    }
    this.telemetry.logoutRequest('front-channel', registrationId, 'applied');
    sendPage(response, 200, PAGE, frameAncestor);
  }

  /** Ends the OP session the request names (by `sid`, or by the request's own session), and logs it. */
  private async revoke(
    registration: ResolvedClientRegistration,
    decision: Exclude<FrontChannelDecision, { action: 'reject' }>,
    request: RoutedRequest,
  ): Promise<void> {
    let sessions: number;
    if (decision.action === 'revoke-sid') {
      detachSession(request);
      const result = await this.logoutService.applyLogout(registration, {
        channel: 'front-channel',
        sid: decision.sid,
        tombstone: false,
      });
      sessions = result.sessions.length;
    } else {
      sessions = await this.revokeCookieSession(registration, request);
    }
    this.logger.log({
      event: 'oidc_front_channel_logout',
      registrationId: registration.registrationId,
      by: decision.action === 'revoke-sid' ? 'sid' : 'cookie',
      sessions,
    });
  }

  /**
   * Without `iss` and `sid` (allowed only when `sessionRequired` is off), the spec's fallback: the
   * session the request's own cookie names, when the browser sent it (a same-site OP, or third-party
   * cookies allowed). Ends that OP session at this client like a `sid` would, and the local session.
   */
  private async revokeCookieSession(
    registration: ResolvedClientRegistration,
    request: RoutedRequest,
  ): Promise<number> {
    const sessionId = sessionIdOf(request);
    const info =
      sessionId === undefined ? undefined : await this.logoutService.findSession(sessionId);
    if (!info || info.registrationId !== registration.registrationId) {
      detachSession(request);
      return 0;
    }
    let removed: number;
    // The record keeps the sid's digest; the logout needs the sid itself (from the ID token).
    const sid = clearSidOf(info);
    if (sid !== undefined) {
      const result = await this.logoutService.applyLogout(registration, {
        channel: 'front-channel',
        sid,
        tombstone: false,
      });
      removed = result.sessions.length;
    } else {
      const ended = await this.logoutService.endSession('front-channel', sessionId as string);
      removed = ended ? 1 : 0;
    }
    await destroySession(request);
    detachSession(request);
    return removed;
  }

  /** Answers a request that revokes nothing: the same 200 page, one log line (a reason, no ids). */
  private reject(
    response: ServerResponse,
    registration: ResolvedClientRegistration | undefined,
    reason: string,
  ): void {
    this.logger.warn({
      event: 'oidc_front_channel_logout_rejected',
      ...(registration ? { registrationId: registration.registrationId } : {}),
      reason,
    });
    this.telemetry.logoutRequest('front-channel', registration?.registrationId, 'refused', reason);
    sendPage(response, 200, PAGE, registration ? originOf(registration.issuer) : undefined);
  }
}

/** The query parameters the front channel reads, each with all its values (to spot repeats). */
interface FrontChannelQuery {
  iss: string[];
  sid: string[];
}

/**
 * Reads `iss` and `sid` from the raw URL, not from a framework's query parser (Express's extended
 * parser turns `iss[a]=b` into an object).
 */
function requestQuery(request: RoutedRequest): FrontChannelQuery {
  const raw = request.originalUrl ?? request.url ?? '';
  const queryStart = raw.indexOf('?');
  const params = new URLSearchParams(queryStart === -1 ? '' : raw.slice(queryStart + 1));
  return { iss: params.getAll('iss'), sid: params.getAll('sid') };
}

/**
 * Front-Channel Logout 1.0 section 2 and 3: `iss` and `sid` both or neither; when present, `iss`
 * is exactly the registration's issuer. Entra ID sends `sid` alone: accepted only with
 * `allowMissingIssuer`. Without either, only a registration with `sessionRequired: false` may fall
 * back to the request's own session.
 */
function decide(
  registration: ResolvedClientRegistration,
  query: FrontChannelQuery,
): FrontChannelDecision {
  const frontChannel = registration.frontChannel;
  if (frontChannel === false) return { action: 'reject', reason: 'front_channel_disabled' };
  if (query.iss.length > 1 || query.sid.length > 1) {
    return { action: 'reject', reason: 'repeated_parameter' };
  }
  const [iss] = query.iss;
  const [sid] = query.sid;
  if (iss === '' || sid === '') return { action: 'reject', reason: 'empty_parameter' };
  if (iss === undefined && sid === undefined) {
    return frontChannel.sessionRequired
      ? { action: 'reject', reason: 'missing_parameters' }
      : { action: 'revoke-cookie-session' };
  }
  if (sid === undefined) return { action: 'reject', reason: 'missing_sid' };
  if (iss === undefined && !frontChannel.allowMissingIssuer) {
    return { action: 'reject', reason: 'missing_iss' };
  }
  if (iss !== undefined && iss !== registration.issuer) {
    return { action: 'reject', reason: 'issuer_mismatch' };
  }
  if (sid.length > FRONT_CHANNEL_MAX_SID_LENGTH)
    return { action: 'reject', reason: 'sid_too_long' };
  return { action: 'revoke-sid', sid };
}

/**
 * Ends the response with a small HTML page that only the OP may frame. Headers that an app-wide
 * middleware (helmet) set before would forbid that: they are removed or replaced here.
 */
function sendPage(
  response: ServerResponse,
  status: number,
  body: string,
  frameAncestor: string | undefined,
  headers: Record<string, string> = {},
): void {
  response.removeHeader('X-Frame-Options');
  response.statusCode = status;
  setNoStore(response);
  response.setHeader(
    'Content-Security-Policy',
    `default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors ${frameAncestor ?? "'none'"}`,
  );
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('X-Content-Type-Options', 'nosniff');
  for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  response.setHeader('Content-Type', 'text/html; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.end(body);
}

/** The origin of an issuer (validated as an absolute http(s) URL at startup), for `frame-ancestors`. */
function originOf(issuer: string): string {
  return new URL(issuer).origin;
}

/**
 * The iframe request must neither create nor touch a session (express-session with
 * `saveUninitialized: true` would otherwise set a cookie): express-session saves nothing and sets no
 * cookie for a request whose `session` is gone.
 */
function detachSession(request: { session?: unknown }): void {
  if (request.session !== undefined) request.session = undefined;
}
