import type { ServerResponse } from 'node:http';
import type { RpLogoutDecision } from '../services/rp-initiated-logout';
import { endSessionFormPage, logoutFailedPage, sendHtml, sendRedirect } from './logout-pages';
import { appendSetCookie, stateCookie, stateCookiePath } from './logout-state';

/**
 * Writes the answer of an RP-initiated logout: the state cookie (when the OP is to come back with a
 * `state`), then a 302, the auto-submitting end-session form, or an error page. Every answer is
 * `no-store`.
 *
 * @param response Express's response, a Node `ServerResponse`, or a reply with a `raw` one (Fastify).
 * @param logoutCallbackRoute The configured `routes.logoutCallback`: the cookie's path when the
 *   post-logout redirect URI has none usable.
 * @internal
 */
export function sendRpLogoutAnswer(
  request: object,
  response: ServerResponse | { raw: ServerResponse },
  decision: RpLogoutDecision,
  logoutCallbackRoute: string,
): void {
  const res = 'raw' in response ? response.raw : response;
  const { answer, stateCookie: cookie } = decision;
  if (cookie !== undefined) {
    appendSetCookie(
      res,
      stateCookie(cookie.state, {
        path: stateCookiePath(cookie.postLogoutRedirectUri, logoutCallbackRoute),
        secure: isHttps(request),
      }),
    );
  }
  switch (answer.kind) {
    case 'redirect':
      return sendRedirect(res, answer.location);
    case 'end-session-form': {
      const page = endSessionFormPage(answer.action, answer.fields);
      return sendHtml(res, 200, page.html, { scriptHash: page.scriptHash });
    }
    case 'failed':
      return sendHtml(res, answer.status, logoutFailedPage(answer.message, answer.landingUrl));
  }
}

/** Whether the request came over https (Express's `req.protocol` honours `trust proxy`). */
function isHttps(request: object): boolean {
  const { protocol, secure, socket } = request as {
    protocol?: unknown;
    secure?: unknown;
    socket?: { encrypted?: unknown };
  };
  if (typeof protocol === 'string') return protocol === 'https';
  if (typeof secure === 'boolean') return secure;
  return socket?.encrypted === true;
}
