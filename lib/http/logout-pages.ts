import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { setNoStore } from './http-response';

/**
 * The small HTML pages of RP-initiated logout. Every value shown is escaped; none comes from a request
 * parameter except the path the page was served at. Pages are uncacheable, not frameable (a framed
 * logout button could be clicked through, a cross-site logout), and run no script except the
 * auto-submit of the end-session form, allowed by its hash.
 */

/** Escapes text for HTML element content and double-quoted attribute values. @internal */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The only script of these pages: submits the end-session form once the page is parsed. */
const AUTO_SUBMIT_SCRIPT = "document.getElementById('oidc-end-session').submit();";
const AUTO_SUBMIT_HASH = `'sha256-${createHash('sha256').update(AUTO_SUBMIT_SCRIPT).digest('base64')}'`;

/**
 * No `form-action`: Chrome applies it to the redirects that follow a form submission, and the logout
 * POST is answered with a redirect to the OP.
 */
const BASE_CSP = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'";

function page(title: string, body: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex">',
    `<title>${escapeHtml(title)}</title>`,
    '</head>',
    `<body>${body}</body>`,
    '</html>',
    '',
  ].join('\n');
}

/**
 * Ends a response with an HTML page: uncacheable, not frameable, its own Content-Security-Policy (it
 * replaces one an app-wide middleware such as helmet may have set, which would block the auto-submit
 * script or the redirect to the OP).
 *
 * @internal
 */
export function sendHtml(
  response: ServerResponse,
  status: number,
  html: string,
  options: { scriptHash?: string; headers?: Record<string, string> } = {},
): void {
  response.statusCode = status;
  setNoStore(response);
  const scriptSrc = options.scriptHash ? `; script-src ${options.scriptHash}` : '';
  response.setHeader('Content-Security-Policy', `${BASE_CSP}${scriptSrc}`);
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('X-Content-Type-Options', 'nosniff');
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    response.setHeader(name, value);
  }
  response.setHeader('Content-Type', 'text/html; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(html));
  response.end(html);
}

/**
 * Ends a response with `302 Found` to `location` (a URL from configuration or built by the library,
 * never from a request parameter), uncacheable, with no body.
 *
 * @internal
 */
export function sendRedirect(response: ServerResponse, location: string): void {
  response.statusCode = 302;
  setNoStore(response);
  response.setHeader('Location', location);
  response.setHeader('Content-Length', '0');
  response.end();
}

/** A form that POSTs to `action` (no fields) with one button. */
function logoutForm(action: string): string {
  return `<form method="post" action="${escapeHtml(action)}"><button type="submit">Log out</button></form>`;
}

/** `GET {routes.logout}`: a page with a logout button; it logs nobody out. @internal */
export function logoutButtonPage(action: string): string {
  return page('Log out', `<h1>Log out</h1>\n<p>Do you want to log out?</p>\n${logoutForm(action)}`);
}

/**
 * `POST {routes.logout}` without a same-origin proof (a cross-site request): refused, nobody is
 * logged out. The button posts from this page, so a user who really wanted to log out can.
 *
 * @internal
 */
export function logoutRefusedPage(action: string): string {
  return page(
    'Logout refused',
    '<h1>Logout refused</h1>\n<p>This logout request did not come from this site, so nothing was done.' +
      ' To log out, use the button below.</p>\n' +
      logoutForm(action),
  );
}

/** A method the endpoint does not serve (sent with an `Allow` header). @internal */
export function methodNotAllowedPage(): string {
  return page(
    'Method not allowed',
    '<h1>Method not allowed</h1>\n<p>This address does not accept that kind of request.</p>',
  );
}

/** The logout callback with a `state` that is not the one issued: nothing is done. @internal */
export function stateMismatchPage(): string {
  return page(
    'Logout could not be confirmed',
    '<h1>Logout could not be confirmed</h1>\n<p>The response from the identity provider does not' +
      ' belong to a logout started in this browser, so it was ignored.</p>',
  );
}

/** A failure of the logout itself (store or OP unavailable), with a link to the landing page. @internal */
export function logoutFailedPage(message: string, landingUrl: string): string {
  return page(
    'Logout incomplete',
    `<h1>Logout incomplete</h1>\n<p>${escapeHtml(message)}</p>\n` +
      `<p><a href="${escapeHtml(landingUrl)}">Continue</a></p>`,
  );
}

/**
 * The end-session request as an auto-submitting form POST (RP-Initiated Logout 1.0 section 2), with
 * a button for browsers without script.
 *
 * @internal
 */
export function endSessionFormPage(
  action: string,
  fields: ReadonlyArray<readonly [string, string]>,
): { html: string; scriptHash: string } {
  const inputs = fields
    .map(
      ([name, value]) =>
        `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`,
    )
    .join('\n');
  const html = page(
    'Logging out',
    `<form id="oidc-end-session" method="post" action="${escapeHtml(action)}">\n${inputs}\n` +
      '<noscript><button type="submit">Continue to log out</button></noscript>\n</form>\n' +
      `<script>${AUTO_SUBMIT_SCRIPT}</script>`,
  );
  return { html, scriptHash: AUTO_SUBMIT_HASH };
}
