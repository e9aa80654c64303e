import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/**
 * A request as Express (or a raw Node server) hands it to a route handler: Express adds `protocol`
 * and `host`, which honour the app's `trust proxy` setting (`X-Forwarded-Proto` / `-Host` from a
 * trusted proxy only).
 *
 * @internal
 */
export interface OriginRequest extends IncomingMessage {
  protocol?: string;
  host?: string;
}

/** One header as a single string; a repeated header counts as absent (it is malformed). */
function singleHeader(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The origin the app is served at for this request (`https://app.example.com`), from the request's
 * protocol and host: Express's `req.protocol` / `req.host` when present (so that `trust proxy` is
 * honoured), else the socket's TLS state and the `Host` header. `undefined` without a usable host.
 *
 * @internal
 */
export function requestOrigin(request: OriginRequest): string | undefined {
  const protocol =
    typeof request.protocol === 'string' && request.protocol !== ''
      ? request.protocol
      : (request.socket as TLSSocket | undefined)?.encrypted
        ? 'https'
        : 'http';
  const host =
    typeof request.host === 'string' && request.host !== ''
      ? request.host
      : singleHeader(request, 'host');
  if (!host || (protocol !== 'http' && protocol !== 'https')) return undefined;
  return normalizeOrigin(`${protocol}://${host}`);
}

/** Default ports an origin's serialization leaves out. */
const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };

/**
 * `scheme://host[:port]` as browsers serialize an origin (RFC 6454 section 6.1), or `undefined`.
 *
 * The value must already be an origin, exactly: no trailing slash, path, query, fragment, userinfo,
 * whitespace or backslash. Only what RFC 6454 treats as the same origin is normalised: the case of
 * the scheme and host, and the scheme's default port (`https://App.Example.com:443` is
 * `https://app.example.com`). Any other rewriting the URL parser would do (a trailing slash, `\`
 * for `/`, numeric or hexadecimal IPv4 forms, percent-encoded hosts) makes the value no origin.
 *
 * @internal
 */
export function normalizeOrigin(value: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#@\\\s]+$/.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (defaultPort === undefined) return undefined;
  // The URL parser drops the default port: the value written without it must be the origin itself.
  let written = value.toLowerCase();
  if (written.endsWith(`:${defaultPort}`)) written = written.slice(0, -defaultPort.length - 1);
  return url.origin === written ? url.origin : undefined;
}

/** Why a state-changing request was accepted or refused, for a log line. @internal */
export type SameOriginVerdict =
  | { sameOrigin: true; proof: 'sec-fetch-site' | 'origin' }
  | {
      sameOrigin: false;
      reason: 'cross-site' | 'origin-mismatch' | 'no-proof' | 'unknown-host';
    };

/**
 * Whether a state-changing request (the logout POST) comes from the app's own pages, by the headers
 * every current browser sets on a POST and no web page can forge:
 *
 * - `Sec-Fetch-Site`: `same-origin` (a form or script of the app) or `none` (typed by the user)
 *   passes; `same-site` (a sibling subdomain), `cross-site` or anything else is refused;
 * - `Origin`, when present, must equal the app's own origin (`expectedOrigin`, from the request's
 *   protocol and host); `null` (sandboxed frames, cross-origin redirects) is refused;
 * - a request with neither header is refused: no proof, no logout. Only non-browser clients and very
 *   old browsers send neither, and they cannot be made to do so by another site.
 *
 * When both headers are present both must pass.
 *
 * @internal
 */
export function checkSameOrigin(
  headers: { secFetchSite?: string; origin?: string },
  expectedOrigin: string | undefined,
): SameOriginVerdict {
  const site = headers.secFetchSite?.trim().toLowerCase();
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return { sameOrigin: false, reason: 'cross-site' };
  }
  if (headers.origin !== undefined) {
    if (expectedOrigin === undefined) return { sameOrigin: false, reason: 'unknown-host' };
    const origin = normalizeOrigin(headers.origin.trim());
    if (origin === undefined || origin !== expectedOrigin) {
      return { sameOrigin: false, reason: 'origin-mismatch' };
    }
    return { sameOrigin: true, proof: 'origin' };
  }
  if (site !== undefined) return { sameOrigin: true, proof: 'sec-fetch-site' };
  return { sameOrigin: false, reason: 'no-proof' };
}

/** {@link checkSameOrigin} on a request: its headers against its own origin. @internal */
export function checkSameOriginRequest(request: OriginRequest): SameOriginVerdict {
  return checkSameOrigin(
    {
      secFetchSite: singleHeader(request, 'sec-fetch-site'),
      origin: singleHeader(request, 'origin'),
    },
    requestOrigin(request),
  );
}
