import { errors, type JSONWebKeySet } from 'jose';
import { readBoundedText } from '../http-client/read-bounded-text';
import { JwksUnavailableError } from './jwks-errors';
import { isJsonObject } from './logout-token.rules';

/** Where and how to GET a JWKS, as `createOidcKeySet` resolved it. @internal */
export interface JwksRequest {
  /** The JWKS URL. */
  readonly href: string;
  /** Its origin and path: all that error messages show of it. */
  readonly where: string;
  /** Timeout of the fetch, headers and body included. */
  readonly timeoutMs: number;
  /** Cap on the response body. */
  readonly maxBytes: number;
  readonly fetchImpl: typeof fetch;
}

/**
 * One bounded GET of the JWKS: no redirects, 200 only, body capped; resolves with a structurally
 * valid JWK set.
 *
 * @throws JwksUnavailableError, or jose's `JWKSTimeout` when no answer came within `timeoutMs`.
 * @internal
 */
export async function downloadJwks({
  href,
  where,
  timeoutMs,
  maxBytes,
  fetchImpl,
}: JwksRequest): Promise<JSONWebKeySet> {
  const signal = AbortSignal.timeout(timeoutMs);
  const unavailable = (why: string, cause?: unknown) =>
    new JwksUnavailableError(`JWKS at ${where}: ${why}`, { cause });
  const timedOut = (cause: unknown) =>
    new errors.JWKSTimeout(`JWKS at ${where}: no answer within ${timeoutMs} ms`, { cause });
  let response: Response;
  try {
    response = await fetchImpl(href, {
      method: 'GET',
      redirect: 'manual',
      signal,
      headers: { accept: 'application/jwk-set+json, application/json' },
    });
  } catch (error) {
    throw signal.aborted ? timedOut(error) : unavailable('request failed', error);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw unavailable(`HTTP ${response.status} (200 expected; redirects are not followed)`);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw unavailable(`response larger than ${maxBytes} bytes`);
  }
  let text: string | undefined;
  try {
    text = await readBoundedText(response, maxBytes);
  } catch (error) {
    throw signal.aborted ? timedOut(error) : unavailable('reading the response failed', error);
  }
  if (text === undefined) throw unavailable(`response larger than ${maxBytes} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw unavailable('the response is not JSON');
  }
  if (!isJsonObject(json) || !Array.isArray(json.keys) || !json.keys.every(isJsonObject)) {
    throw unavailable('the response is not a JWK set');
  }
  return json as unknown as JSONWebKeySet;
}
