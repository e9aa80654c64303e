import { readBoundedText } from '../http-client/read-bounded-text';

/**
 * How the client authenticates at the token endpoint (OpenID Connect Core section 9). `client_secret_basic`
 * is the default of the specification and the one every OP supports.
 *
 * @publicApi
 */
export type OidcTokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** One authorization code exchange. @internal */
export interface TokenRequestInput {
  tokenEndpoint: string;
  clientId: string;
  clientSecret?: string;
  authMethod: OidcTokenEndpointAuthMethod;
  /** `grant_type`, `code`, `redirect_uri`, `code_verifier`, as form parameters. */
  params: Readonly<Record<string, string>>;
}

/** The HTTP request of a token exchange. @internal */
export interface TokenHttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Largest token response read, in bytes: an ID token and an access token, with room to spare. */
const MAX_TOKEN_RESPONSE_BYTES = 256 * 1024;

/**
 * The token request (RFC 6749 section 4.1.3) with the client authentication of `authMethod`:
 * `client_secret_basic` form-encodes id and secret before base64 (section 2.3.1), `client_secret_post`
 * sends them as form parameters, `none` sends only `client_id` (a public client, which needs PKCE).
 *
 * @internal
 */
export function buildTokenRequest(input: TokenRequestInput): TokenHttpRequest {
  const body = new URLSearchParams(input.params);
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (input.authMethod === 'client_secret_basic') {
    const credentials = `${formEncode(input.clientId)}:${formEncode(input.clientSecret ?? '')}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  } else {
    body.set('client_id', input.clientId);
    if (input.authMethod === 'client_secret_post')
      body.set('client_secret', input.clientSecret ?? '');
  }
  return { url: input.tokenEndpoint, headers, body: body.toString() };
}

/**
 * An error answer of the token endpoint, in the shape passport-openidconnect reads from the `oauth`
 * package (`statusCode`, `data`): it turns an OAuth error body into a `TokenError`.
 *
 * @internal
 */
export class TokenEndpointError extends Error {
  constructor(
    readonly statusCode: number,
    readonly data: string,
  ) {
    super(`The token endpoint answered HTTP ${statusCode}`);
    this.name = 'TokenEndpointError';
  }
}

/**
 * Exchanges the authorization code at the token endpoint: no redirect followed, bounded in time and
 * size. Resolves the JSON token response; rejects with {@link TokenEndpointError} on an HTTP error and
 * with the network error otherwise.
 *
 * @internal
 */
export async function requestTokens(
  input: TokenRequestInput,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const request = buildTokenRequest(input);
  const response = await fetch(request.url, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
    redirect: 'error',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await readBoundedText(response, MAX_TOKEN_RESPONSE_BYTES);
  if (text === undefined) throw new Error('The token response is too large');
  if (response.status !== 200) throw new TokenEndpointError(response.status, text);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('The token response is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error('The token response is not a JSON object');
  }
  return json as Record<string, unknown>;
}

/** `application/x-www-form-urlencoded` encoding of one value. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
