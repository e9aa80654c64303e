import { Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { LogoutService } from '../services/logout.service';
import type { SessionRequest } from '../services/request-session';
import {
  logoutButtonPage,
  logoutFailedPage,
  logoutRefusedPage,
  methodNotAllowedPage,
  sendHtml,
} from '../http/logout-pages';
import { checkSameOriginRequest, type OriginRequest } from '../http/same-origin';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';
import { SPAN } from '../telemetry/telemetry-names';

/** The request as this handler reads it: Express's, or a raw Node request. @internal */
export type RpLogoutRequest = OriginRequest &
  SessionRequest & { originalUrl?: string; logout?: unknown };

/** The path a request was served at, without its query: where the page's form posts back to. */
export function requestPath(request: { originalUrl?: string; url?: string }): string {
  const url = request.originalUrl ?? request.url ?? '/';
  const question = url.indexOf('?');
  const path = question < 0 ? url : url.slice(0, question);
  // Only a local path: never a scheme-relative or absolute URL in a form action.
  return path.startsWith('/') && !path.startsWith('//') && !path.includes('\\') ? path : '/';
}

/**
 * `{routes.logout}` (default `/logout`): RP-initiated logout.
 *
 * - `GET` / `HEAD`: 200, a small page with a logout button (a form that POSTs here). Logs nobody
 *   out: a link, an image or a prefetch from any site can make a browser GET this.
 * - `POST` with a same-origin proof (`Sec-Fetch-Site: same-origin | none`, and/or an `Origin` equal to
 *   the app's own): {@link LogoutService.logout}: the local session ends, then a 302 to the OP's
 *   end-session endpoint (or the auto-submitting form, or a 302 to the landing page).
 * - `POST` without that proof (another site's form, or no browser headers at all): 403 page, nothing
 *   is logged out.
 * - Any other method: 405 with `Allow: GET, HEAD, POST`.
 *
 * Every answer is `Cache-Control: no-store`; the pages cannot be framed (a framed logout button could
 * be clicked through from another site).
 *
 * @internal
 */
@Injectable()
export class RpInitiatedLogoutHandler implements NestMiddleware {
  private readonly logger = new Logger('OidcRpInitiatedLogout');

  constructor(
    private readonly logoutService: LogoutService,
    private readonly telemetry: OidcTelemetry,
  ) {}

  /** Handles the request; a `POST` in a span of its own (`oidc_logout rp-initiated`). */
  use(request: RpLogoutRequest, response: ServerResponse): Promise<void> {
    if (request.method !== 'POST') return this.handle(request, response);
    return this.telemetry.inSpan(SPAN.rpInitiated, undefined, () => this.handle(request, response));
  }

  private async handle(request: RpLogoutRequest, response: ServerResponse): Promise<void> {
    const action = requestPath(request);
    if (request.method === 'GET' || request.method === 'HEAD') {
      return sendHtml(response, 200, logoutButtonPage(action));
    }
    if (request.method !== 'POST') {
      this.telemetry.logoutRequest('rp-initiated', undefined, 'refused', 'method');
      return sendHtml(response, 405, methodNotAllowedPage(), {
        headers: { Allow: 'GET, HEAD, POST' },
      });
    }
    const verdict = checkSameOriginRequest(request);
    if (!verdict.sameOrigin) {
      this.logger.warn({ event: 'oidc_rp_logout_refused', reason: verdict.reason });
      this.telemetry.logoutRequest('rp-initiated', undefined, 'refused', verdict.reason);
      return sendHtml(response, 403, logoutRefusedPage(action));
    }
    try {
      const result = await this.logoutService.logout(request, response);
      this.logger.log({
        event: 'oidc_rp_logout',
        outcome: result.outcome,
        registrationId: result.session?.registrationId,
      });
      // A failure without the session is the store's (it could not be read); with it, the OP's.
      const failure =
        result.outcome !== 'failed'
          ? undefined
          : result.session === undefined
            ? 'repository_unavailable'
            : 'op_unavailable';
      this.telemetry.logoutRequest(
        'rp-initiated',
        result.session?.registrationId,
        failure === undefined ? 'applied' : 'failed',
        failure,
      );
    } catch (error) {
      // logout() answers its own failures; this is a bug or a broken response.
      const type = error instanceof Error ? error.name : typeof error;
      this.logger.error({ event: 'oidc_rp_logout_failed', error: type });
      this.telemetry.logoutRequest('rp-initiated', undefined, 'failed', type);
      if (!response.headersSent) {
        sendHtml(response, 500, logoutFailedPage('The logout could not be completed.', '/'));
      }
    }
  }
}
