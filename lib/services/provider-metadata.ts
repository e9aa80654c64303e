import { hasWhitespaceOrControl, urlTransportProblem } from '../options/option-checks';

/**
 * The part of an OP's discovery document (or static configuration) the library uses.
 *
 * @internal
 */
export interface ProviderMetadata {
  issuer: string;
  jwksUri?: string;
  endSessionEndpoint?: string;
  idTokenSigningAlgValuesSupported?: string[];
  backchannelLogoutSupported?: boolean;
  frontchannelLogoutSupported?: boolean;
  /** Login (authorization code flow): `authorization_endpoint`, `token_endpoint`, `userinfo_endpoint`. */
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  userinfoEndpoint?: string;
  /** PKCE methods the OP announces (`code_challenge_methods_supported`), when it announces them. */
  codeChallengeMethodsSupported?: string[];
  /** RFC 9207: the OP puts `iss` in its authorization responses (`authorization_response_iss_parameter_supported`). */
  authorizationResponseIssParameterSupported?: boolean;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function optionalStringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
}

/** Why a discovered URL is refused, or `undefined` (see `urlTransportProblem` for the rule). */
function discoveredUrlProblem(value: string, requireHttps: boolean): string | undefined {
  // The URL parser drops tabs and newlines and trims spaces, but these values are used verbatim (a
  // Location header, a form action): refuse them, as the options' own URLs are refused.
  if (hasWhitespaceOrControl(value)) return 'is not an absolute http(s) URL';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute http(s) URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return 'is not an absolute http(s) URL';
  return urlTransportProblem(url, requireHttps);
}

/**
 * Reads a discovery document (OpenID Connect Discovery 1.0 section 3) and checks what matters here:
 * `issuer` exactly the configured one (section 4.3) and URLs absolute http(s), without credentials
 * (`user:password@`), and https (loopback hosts excepted) when `requireHttps` (`NODE_ENV` is
 * `production`). Returns a reason on failure.
 *
 * @internal
 */
export function parseDiscoveryDocument(
  document: unknown,
  expectedIssuer: string,
  requireHttps = false,
): ProviderMetadata | { error: string } {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return { error: 'the discovery document is not a JSON object' };
  }
  const doc = document as Record<string, unknown>;
  if (doc.issuer !== expectedIssuer) {
    return {
      error: `the discovery document's issuer ${JSON.stringify(doc.issuer)} is not the configured issuer ${JSON.stringify(expectedIssuer)} (they must be equal, character for character)`,
    };
  }
  const jwksUri = optionalString(doc.jwks_uri);
  const endSessionEndpoint = optionalString(doc.end_session_endpoint);
  const authorizationEndpoint = optionalString(doc.authorization_endpoint);
  const tokenEndpoint = optionalString(doc.token_endpoint);
  const userinfoEndpoint = optionalString(doc.userinfo_endpoint);
  for (const [name, value] of [
    ['jwks_uri', jwksUri],
    ['end_session_endpoint', endSessionEndpoint],
    ['authorization_endpoint', authorizationEndpoint],
    ['token_endpoint', tokenEndpoint],
    ['userinfo_endpoint', userinfoEndpoint],
  ] as const) {
    const problem = value === undefined ? undefined : discoveredUrlProblem(value, requireHttps);
    if (problem !== undefined) {
      // Nothing is fetched from it nor sent to it: the whole document is refused.
      return { error: `the discovery document's ${name} ${problem}` };
    }
  }
  return {
    issuer: expectedIssuer,
    jwksUri,
    endSessionEndpoint,
    idTokenSigningAlgValuesSupported: optionalStringArray(
      doc.id_token_signing_alg_values_supported,
    ),
    backchannelLogoutSupported: doc.backchannel_logout_supported === true,
    frontchannelLogoutSupported: doc.frontchannel_logout_supported === true,
    authorizationEndpoint,
    tokenEndpoint,
    userinfoEndpoint,
    codeChallengeMethodsSupported: optionalStringArray(doc.code_challenge_methods_supported),
    ...(doc.authorization_response_iss_parameter_supported === true
      ? { authorizationResponseIssParameterSupported: true }
      : {}),
  };
}

/** `${issuer}/.well-known/openid-configuration`, without a doubled slash. @internal */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}
