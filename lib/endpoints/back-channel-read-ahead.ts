import type { IncomingMessage, ServerResponse } from 'node:http';

/** A middleware as Express runs it. */
type Middleware = (request: IncomingMessage, response: ServerResponse, next: () => void) => void;

/** The parts of an Express 4/5 application the read-ahead needs. */
interface ExpressAppLike {
  use(middleware: Middleware): unknown;
  router?: { stack?: unknown[] };
  _router?: { stack?: unknown[] };
}

/**
 * Whether a request path is one of the back-channel endpoint's, `{routes.backChannel}/:registrationId`,
 * under any prefix (the app's global prefix): the configured path's segments, compared ignoring case
 * as Express routes, followed by at least one segment. Query and fragment are ignored.
 *
 * @internal
 */
export function backChannelPathMatcher(backChannelPath: string): (url: string) => boolean {
  const base = segments(backChannelPath).map((s) => s.toLowerCase());
  return (url) => {
    const end = url.search(/[?#]/);
    const path = segments(end < 0 ? url : url.slice(0, end)).map((s) => s.toLowerCase());
    for (let start = 0; start + base.length < path.length; start++) {
      if (base.every((segment, i) => path[start + i] === segment)) return true;
    }
    return false;
  };
}

function segments(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

/**
 * Puts `readAhead` first in an Express application's middleware stack, for the back-channel paths
 * only: ahead of every body parser the app mounted globally (Nest's own with `bodyParser: true`,
 * or the app's `express.json()` / `urlencoded()`), which would otherwise read the OP's request first
 * (past the module's 64 KiB bound) and answer its refusals in their own shape. It reads the body
 * (bounded) and leaves it for the endpoint; the request, then complete, is skipped by body-parser,
 * and goes through the app's other middleware (session, IP filters, ...) to the endpoint as before.
 *
 * Returns `false` when the application's stack cannot be reached (the read-ahead is then not
 * installed, and the endpoint reads whatever body is left to it as before).
 *
 * @internal
 */
export function installExpressReadAhead(
  app: unknown,
  matches: (url: string) => boolean,
  readAhead: Middleware,
): boolean {
  const express = app as ExpressAppLike;
  if (typeof express?.use !== 'function') return false;
  const oidcBackChannelReadAhead: Middleware = (request, response, next) => {
    const url = (request as { originalUrl?: string }).originalUrl ?? request.url ?? '';
    if (matches(url)) readAhead(request, response, next);
    else next();
  };
  express.use(oidcBackChannelReadAhead);
  // Express 5 exposes its router as `app.router`, Express 4 as `app._router`.
  const stack = (express.router ?? express._router)?.stack;
  if (!Array.isArray(stack)) return false;
  const index = stack.findIndex(
    (layer) => (layer as { handle?: unknown } | undefined)?.handle === oidcBackChannelReadAhead,
  );
  if (index < 0) return false;
  stack.unshift(...stack.splice(index, 1));
  return true;
}
