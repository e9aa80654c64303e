import { randomBytes } from 'node:crypto';

/**
 * The parameters of an RP-Initiated Logout 1.0 request (section 2), in the order they are sent.
 *
 * @internal
 */
export interface EndSessionParameters {
  /** The session's last ID token, sent even when it has expired (section 2: "MAY be expired"). */
  idTokenHint?: string;
  /** Sent exactly as configured: the OP compares it, byte for byte, with the registered value. */
  postLogoutRedirectUri?: string;
  clientId?: string;
  state?: string;
  /** BCP47 tags, space-separated when an array is given. */
  uiLocales?: string | readonly string[];
  logoutHint?: string;
}

/**
 * A fresh `state` for an end-session request: 256 random bits, base64url (43 characters, safe in a
 * cookie and a URL).
 *
 * @internal
 */
export function newLogoutState(): string {
  return randomBytes(32).toString('base64url');
}

/** The parameter names this library sets on an end-session request. @internal */
export const END_SESSION_PARAMETER_NAMES = [
  'id_token_hint',
  'post_logout_redirect_uri',
  'client_id',
  'state',
  'ui_locales',
  'logout_hint',
] as const;

/**
 * The request parameters, as name/value pairs, without the absent ones (an empty string counts as
 * absent: an empty `state` or hint would only be rejected by the OP).
 *
 * @internal
 */
export function endSessionParameters(params: EndSessionParameters): Array<[string, string]> {
  const uiLocales =
    typeof params.uiLocales === 'string'
      ? params.uiLocales
      : params.uiLocales?.filter((tag) => tag.length > 0).join(' ');
  const pairs: Array<[string, string | undefined]> = [
    ['id_token_hint', params.idTokenHint],
    ['post_logout_redirect_uri', params.postLogoutRedirectUri],
    ['client_id', params.clientId],
    ['state', params.state],
    ['ui_locales', uiLocales],
    ['logout_hint', params.logoutHint],
  ];
  return pairs.filter((pair): pair is [string, string] => !!pair[1]);
}

/** `application/x-www-form-urlencoded` bytes of one name or value, with spaces as `%20`. */
function encode(value: string): string {
  // encodeURIComponent leaves !'()* alone; RFC 3986 reserves them, so encode them too.
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The raw name of one `name=value` query pair, decoded for comparison (undefined if malformed). */
function pairName(pair: string): string | undefined {
  const eq = pair.indexOf('=');
  const raw = eq < 0 ? pair : pair.slice(0, eq);
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** The endpoint without fragment, split into its base and its query pairs (raw). */
function splitEndpoint(endpoint: string): { base: string; pairs: string[] } {
  const hash = endpoint.indexOf('#');
  const withoutFragment = hash < 0 ? endpoint : endpoint.slice(0, hash);
  const question = withoutFragment.indexOf('?');
  if (question < 0) return { base: withoutFragment, pairs: [] };
  return {
    base: withoutFragment.slice(0, question),
    pairs: withoutFragment
      .slice(question + 1)
      .split('&')
      .filter((pair) => pair !== ''),
  };
}

/** `base?pairs`, or `base` alone without pairs. */
function join(base: string, pairs: readonly string[]): string {
  return pairs.length === 0 ? base : `${base}?${pairs.join('&')}`;
}

/** The endpoint's own query pairs, without those the request sets itself. */
function keptPairs(pairs: readonly string[], ours: ReadonlyArray<[string, string]>): string[] {
  const replaced = new Set(ours.map(([name]) => name));
  return pairs.filter((pair) => {
    const name = pairName(pair);
    return name === undefined || !replaced.has(name);
  });
}

/**
 * The OP's `end_session_endpoint` with the request parameters added to its query (OAuth 2.0
 * section 3.1: an endpoint's own query component is kept). The endpoint's query pairs are kept byte
 * for byte, except those this library sets itself, which are replaced rather than repeated (a repeated
 * parameter is an error at most OPs). A fragment, which an endpoint must not have, is dropped.
 *
 * @internal
 */
export function buildEndSessionUrl(endpoint: string, params: EndSessionParameters): string {
  const { base, pairs } = splitEndpoint(endpoint);
  const ours = endSessionParameters(params);
  const added = ours.map(([name, value]) => `${encode(name)}=${encode(value)}`);
  return join(base, [...keptPairs(pairs, ours), ...added]);
}

/**
 * The same request as a form POST (RP-Initiated Logout 1.0 section 2: "MAY use the HTTP POST
 * method"): the `action` is the endpoint with its own query (without the parameters the form
 * carries), the `fields` the request parameters.
 *
 * @internal
 */
export function endSessionForm(
  endpoint: string,
  params: EndSessionParameters,
): { action: string; fields: Array<[string, string]> } {
  const { base, pairs } = splitEndpoint(endpoint);
  const fields = endSessionParameters(params);
  return { action: join(base, keptPairs(pairs, fields)), fields };
}
