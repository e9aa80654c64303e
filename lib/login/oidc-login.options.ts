import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import { describeValue, urlTransportProblem } from '../options/option-checks';
import type { SessionRequest } from '../services/request-session';
import type { OidcTokenEndpointAuthMethod } from './token-request';

/**
 * A login the OP just completed, after the ID token was verified (signature by the OP's keys, `iss`,
 * `aud`, `exp`, `nonce`) and recorded for the session.
 *
 * @publicApi
 */
export interface OidcLogin {
  registrationId: string;
  issuer: string;
  clientId: string;
  /** The user at the OP (`sub`). */
  sub: string;
  /** The OP session (`sid`), when the OP sends one. */
  sid?: string;
  /** Every claim of the verified ID token. */
  claims: Readonly<Record<string, unknown>>;
}

/**
 * The user passport keeps (`req.user`, what `serializeUser` receives) unless
 * {@link OidcLoginStrategyOptions.validate} returns another one. It holds no token: the raw ID token
 * stays in the session repository, for `id_token_hint` at logout.
 *
 * @publicApi
 */
export interface OidcLoginUser {
  registrationId: string;
  issuer: string;
  sub: string;
  sid?: string;
}

/**
 * Options of {@link createOidcLoginStrategyProvider}.
 *
 * @publicApi
 */
export interface OidcLoginStrategyOptions {
  /** The `OidcLogoutModule` registration to log in with (issuer, client id and secret come from it). */
  registrationId: string;
  /**
   * The passport strategy name, to give to {@link OidcLoginGuard}. Default `oidc:<registrationId>`.
   * Passport keeps one strategy per name, process-wide.
   */
  name?: string;
  /**
   * The redirect URI registered at the OP, absolute (`https://app.example.com/login/callback`). With
   * `NODE_ENV=production` it (and `authorizationEndpoint`, `tokenEndpoint`) must be https unless its
   * host is loopback; `user:password@` is refused everywhere.
   */
  callbackURL: string;
  /** Scopes asked for besides `openid` (always asked for), e.g. `['profile', 'email']`. */
  scope?: string | readonly string[];
  /**
   * Proof Key for Code Exchange, method S256 (RFC 7636). Default `true`: sent to every OP, except one
   * that announces `code_challenge_methods_supported` without `S256` (then a warning is logged).
   */
  pkce?: boolean;
  /**
   * Client authentication at the token endpoint. Default `client_secret_basic` when the registration
   * has a `clientSecret`, `none` (a public client, PKCE required) when it has none.
   */
  tokenEndpointAuthMethod?: OidcTokenEndpointAuthMethod;
  /** The OP's authorization endpoint, for an OP without discovery (or to override it). */
  authorizationEndpoint?: string;
  /** The OP's token endpoint, for an OP without discovery (or to override it). */
  tokenEndpoint?: string;
  /**
   * Maps a verified login to the user passport keeps; return a falsy value to refuse it (the login
   * record is then removed, and the guard answers 401). Default: an {@link OidcLoginUser}.
   * Runs after the login was recorded and before passport regenerates the session.
   */
  validate?: (login: OidcLogin, request: SessionRequest) => unknown;
}

/** {@link OidcLoginStrategyOptions} after validation, with defaults applied. @internal */
export interface ResolvedOidcLoginStrategyOptions {
  registrationId: string;
  name: string;
  callbackURL: string;
  /** Extra scopes, `openid` left out (passport-openidconnect adds it). */
  scope: string[];
  pkce: boolean;
  tokenEndpointAuthMethod?: OidcTokenEndpointAuthMethod;
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  validate?: (login: OidcLogin, request: SessionRequest) => unknown;
}

const AUTH_METHODS: ReadonlySet<string> = new Set<OidcTokenEndpointAuthMethod>([
  'client_secret_basic',
  'client_secret_post',
  'none',
]);
const KNOWN_KEYS: ReadonlySet<string> = new Set<keyof OidcLoginStrategyOptions>([
  'registrationId',
  'name',
  'callbackURL',
  'scope',
  'pkce',
  'tokenEndpointAuthMethod',
  'authorizationEndpoint',
  'tokenEndpoint',
  'validate',
]);
/** RFC 6749 section 3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** The passport strategy name of a registration's login, unless `name` is given. @internal */
export function defaultOidcLoginStrategyName(registrationId: string): string {
  return `oidc:${registrationId}`;
}

/**
 * Checks the options of `createOidcLoginStrategyProvider` when it is called (at import time), listing
 * every problem in one {@link OidcLogoutOptionsError}.
 *
 * @internal
 */
export function resolveOidcLoginStrategyOptions(
  options: OidcLoginStrategyOptions,
): ResolvedOidcLoginStrategyOptions {
  const problems: string[] = [];
  const given = (options ?? {}) as unknown as Partial<Record<string, unknown>>;
  for (const key of Object.keys(given)) {
    if (!KNOWN_KEYS.has(key)) problems.push(`unknown option "${key.slice(0, 64)}"`);
  }
  const { registrationId, name, callbackURL, scope, pkce, tokenEndpointAuthMethod } = given;
  if (typeof registrationId !== 'string' || registrationId.length === 0) {
    problems.push('registrationId must be the registrationId of an OidcLogoutModule client');
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
    problems.push('name must be a non-empty string (the passport strategy name)');
  }
  if (!isAbsoluteHttpUrl(callbackURL)) {
    problems.push(
      'callbackURL must be the absolute http(s) redirect URI registered at the OP, without fragment',
    );
  }
  for (const key of ['authorizationEndpoint', 'tokenEndpoint'] as const) {
    if (given[key] !== undefined && !isAbsoluteHttpUrl(given[key])) {
      problems.push(`${key} must be an absolute http(s) URL without fragment`);
    }
  }
  // The transport rule of every URL the library talks to or sends a browser to.
  const requireHttps = process.env.NODE_ENV === 'production';
  for (const key of ['callbackURL', 'authorizationEndpoint', 'tokenEndpoint'] as const) {
    const value = given[key];
    const problem = isAbsoluteHttpUrl(value)
      ? urlTransportProblem(new URL(value), requireHttps)
      : undefined;
    if (problem !== undefined) {
      problems.push(
        `${key} ${problem} (got ${describeValue(value)}). Fix: use https:// and no user:password@`,
      );
    }
  }
  const scopes = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : (scope ?? []);
  if (
    !Array.isArray(scopes) ||
    !scopes.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s))
  ) {
    problems.push('scope must be scope tokens (a space-separated string or an array of strings)');
  }
  if (pkce !== undefined && typeof pkce !== 'boolean') problems.push('pkce must be a boolean');
  if (
    tokenEndpointAuthMethod !== undefined &&
    (typeof tokenEndpointAuthMethod !== 'string' || !AUTH_METHODS.has(tokenEndpointAuthMethod))
  ) {
    problems.push(`tokenEndpointAuthMethod must be one of ${[...AUTH_METHODS].join(', ')}`);
  }
  if (tokenEndpointAuthMethod === 'none' && pkce === false) {
    problems.push('tokenEndpointAuthMethod "none" (a public client) needs pkce');
  }
  if (options?.validate !== undefined && typeof options.validate !== 'function') {
    problems.push('validate must be a function');
  }
  if (problems.length > 0) {
    throw new OidcLogoutOptionsError(
      `Invalid createOidcLoginStrategyProvider options:\n- ${problems.join('\n- ')}`,
    );
  }
  return {
    registrationId: options.registrationId,
    name: options.name ?? defaultOidcLoginStrategyName(options.registrationId),
    callbackURL: options.callbackURL,
    scope: [...new Set((scopes as string[]).filter((s) => s !== 'openid'))],
    pkce: options.pkce ?? true,
    tokenEndpointAuthMethod: options.tokenEndpointAuthMethod,
    authorizationEndpoint: options.authorizationEndpoint,
    tokenEndpoint: options.tokenEndpoint,
    validate: options.validate,
  };
}

function isAbsoluteHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && !value.includes('#');
  } catch {
    return false;
  }
}
