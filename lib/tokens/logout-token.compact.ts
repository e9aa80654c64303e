import { LogoutTokenError, type LogoutTokenRejection } from './logout-token.error';

/**
 * The compact serialization of a logout token (JWS or JWE), checked before any cryptography: size,
 * parts, base64url, and the JSON of its header.
 */

/**
 * Longest logout token accepted, in characters (JWE included). Real ones are 0.7-2 KB; the cap keeps
 * base64 decoding, JSON parsing and decryption of garbage cheap.
 */
export const MAX_LOGOUT_TOKEN_LENGTH = 16 * 1024;

/** Every part of a compact serialization is base64url; the dots between them are the only others. */
const BASE64URL_PARTS = /^[A-Za-z0-9_.-]*$/;

/** One decoder for every token: `decode` without `stream` keeps no state between calls. */
export const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A {@link LogoutTokenError} with that reason (and cause). @internal */
export const reject = (reason: LogoutTokenRejection, message: string, cause?: unknown) =>
  new LogoutTokenError(reason, message, cause === undefined ? undefined : { cause });

/**
 * The number of parts of a compact JWS (3) or JWE (5), all base64url, header (and JWS payload) not
 * empty; anything else is `malformed`.
 */
export function compactParts(token: unknown): 3 | 5 {
  if (typeof token !== 'string' || token.length === 0) {
    throw reject('malformed', 'the token is empty or not a string');
  }
  if (token.length > MAX_LOGOUT_TOKEN_LENGTH) {
    throw reject('malformed', `the token is longer than ${MAX_LOGOUT_TOKEN_LENGTH} characters`);
  }
  const firstDot = token.indexOf('.');
  let parts = 1;
  for (let dot = firstDot; dot !== -1 && parts <= 5; dot = token.indexOf('.', dot + 1)) parts++;
  if (parts !== 3 && parts !== 5) {
    throw reject('malformed', 'not a compact JWS (3 parts) or JWE (5 parts)');
  }
  if (!BASE64URL_PARTS.test(token)) {
    throw reject('malformed', 'a part is not base64url');
  }
  if (firstDot === 0 || (parts === 3 && token.charCodeAt(firstDot + 1) === DOT)) {
    throw reject('malformed', 'empty header or payload');
  }
  return parts;
}

const DOT = 0x2e;

/** A base64url JSON member (header), or `malformed`. */
export function decodeJson(encoded: string, what: string): unknown {
  try {
    return JSON.parse(UTF8.decode(Buffer.from(encoded, 'base64url')));
  } catch {
    throw reject('malformed', `the ${what} is not base64url-encoded JSON`);
  }
}
