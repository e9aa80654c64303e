import { Inject, Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';
import {
  appendSetCookie,
  clearedStateCookie,
  cookieValues,
  LOGOUT_STATE_COOKIE,
  stateCookiePath,
  stateMatches,
} from '../http/logout-state';
import {
  methodNotAllowedPage,
  sendHtml,
  sendRedirect,
  stateMismatchPage,
} from '../http/logout-pages';
import { requestPath } from './rp-initiated-logout.handler';
import { requestOrigin, type OriginRequest } from '../http/same-origin';

/** What the callback decides from the request's `state` parameters and state cookies. @internal */
export type LogoutCallbackVerdict = 'match' | 'mismatch' | 'absent';

/**
 * The decision of the logout callback, pure:
 * - `absent`: no `state` parameter. The callback has no effect but a redirect to the configured
 *   landing page, so an OP that drops `state` (or a plain link) just lands there; the cookie, if any,
 *   is left to expire so that a stray request cannot spoil a logout in progress.
 * - `match`: exactly one `state`, equal to a state cookie.
 * - `mismatch`: anything else (a different, empty or repeated `state`, or no cookie).
 *
 * @internal
 */
export function logoutCallbackVerdict(
  states: readonly string[],
  cookies: readonly string[],
): LogoutCallbackVerdict {
  if (states.length === 0) return 'absent';
  const [state] = states;
  if (states.length > 1 || state === undefined || state === '') return 'mismatch';
  return stateMatches(state, cookies) ? 'match' : 'mismatch';
}

/**
 * `GET {routes.logoutCallback}` (default `/logout/callback`), the post-logout redirect URI to register
 * at the OP: where the OP sends the browser back after RP-initiated logout, with the `state` the app
 * sent.
 *
 * - `state` equal to the state cookie: the cookie is deleted, 302 to `postLogoutLandingUrl`;
 * - `state` different (or no cookie, an empty or repeated `state`): 400 error page, nothing else;
 * - no `state` at all: 302 to `postLogoutLandingUrl`, nothing else.
 * - other methods: 405 with `Allow: GET, HEAD`.
 *
 * The landing URL comes from configuration only: no parameter can choose where the browser goes.
 * Every answer is `Cache-Control: no-store`.
 *
 * @internal
 */
@Injectable()
export class LogoutCallbackHandler implements NestMiddleware {
  private readonly logger = new Logger('OidcRpInitiatedLogout');

  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS) private readonly options: ResolvedOidcLogoutOptions,
  ) {}

  use(request: OriginRequest & { originalUrl?: string }, response: ServerResponse): void {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return sendHtml(response, 405, methodNotAllowedPage(), { headers: { Allow: 'GET, HEAD' } });
    }
    const url = request.originalUrl ?? request.url ?? '/';
    const question = url.indexOf('?');
    const states = question < 0 ? [] : new URLSearchParams(url.slice(question + 1)).getAll('state');
    const cookies = cookieValues(request.headers.cookie, LOGOUT_STATE_COOKIE);
    const verdict = logoutCallbackVerdict(states, cookies);
    const landing = this.options.postLogoutLandingUrl;
    switch (verdict) {
      case 'match': {
        const path = stateCookiePath(requestPath(request), this.options.routes.logoutCallback);
        const secure = requestOrigin(request)?.startsWith('https:') === true;
        appendSetCookie(response, clearedStateCookie({ path, secure }));
        return sendRedirect(response, landing);
      }
      case 'absent':
        this.logger.log({ event: 'oidc_rp_logout_callback', state: 'absent' });
        return sendRedirect(response, landing);
      case 'mismatch':
        this.logger.warn({
          event: 'oidc_rp_logout_callback_rejected',
          reason: cookies.length === 0 ? 'no_state_cookie' : 'state_mismatch',
        });
        return sendHtml(response, 400, stateMismatchPage());
    }
  }
}
