import type { InjectionToken, OptionalFactoryDependency, Type } from '@nestjs/common';
import {
  Problems,
  appendKey,
  describeValue,
  suggestKey,
  urlTransportProblem,
} from '../options/option-checks';
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

/**
 * A class that makes the login strategy's options, for `useClass` / `useExisting` of
 * {@link OidcLoginStrategyAsyncOptions}.
 *
 * @publicApi
 */
export interface OidcLoginStrategyOptionsFactory {
  createOidcLoginStrategyOptions(): OidcLoginStrategyOptions | Promise<OidcLoginStrategyOptions>;
}

/**
 * Options of `createOidcLoginStrategyProviderAsync`: exactly one of `useFactory` (with `inject`),
 * `useClass` and `useExisting`, as in `OidcLogoutModule.forRootAsync`. There is no `imports`: a
 * provider has none, the module that declares it imports what is injected.
 *
 * @publicApi
 */
export interface OidcLoginStrategyAsyncOptions {
  /** The providers whose instances `useFactory` receives, in order (e.g. `[ConfigService]`). */
  inject?: Array<InjectionToken | OptionalFactoryDependency>;
  /** Makes the options of the injected providers; may be async. */
  useFactory?: (...args: never[]) => OidcLoginStrategyOptions | Promise<OidcLoginStrategyOptions>;
  /** A class instantiated (with its own injections) in the declaring module, whose method makes them. */
  useClass?: Type<OidcLoginStrategyOptionsFactory>;
  /** A provider already in the declaring module's scope whose method makes them. */
  useExisting?: InjectionToken<OidcLoginStrategyOptionsFactory>;
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

/** The first line of every error about the login strategy's options. @internal */
export const LOGIN_OPTIONS_HEADER = 'createOidcLoginStrategyProvider options are invalid:';

/**
 * Checks the options of `createOidcLoginStrategyProvider` (when it is called) or of its async form
 * (when its factory has run), listing every problem in one {@link OidcLogoutOptionsError}.
 *
 * @internal
 */
export function resolveOidcLoginStrategyOptions(
  options: OidcLoginStrategyOptions,
): ResolvedOidcLoginStrategyOptions {
  // Written like the module's option errors, under the login strategy's own header.
  const problems = new Problems(LOGIN_OPTIONS_HEADER);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    problems.add(
      'options',
      'must be an object',
      describeValue(options),
      'pass { registrationId, callbackURL }, or use createOidcLoginStrategyProviderAsync for options from a factory',
    );
    if (!problems.empty) throw problems.toError();
  }
  const given = options as unknown as Partial<Record<string, unknown>>;
  checkKnownKeys(problems, given);
  checkIdentity(problems, given);
  checkUrls(problems, given);
  const scopes = checkScope(problems, given.scope);
  checkProtocol(problems, given);
  if (!problems.empty) throw problems.toError();
  return {
    registrationId: options.registrationId,
    name: options.name ?? defaultOidcLoginStrategyName(options.registrationId),
    callbackURL: options.callbackURL,
    scope: scopes,
    pkce: options.pkce ?? true,
    tokenEndpointAuthMethod: options.tokenEndpointAuthMethod,
    authorizationEndpoint: options.authorizationEndpoint,
    tokenEndpoint: options.tokenEndpoint,
    validate: options.validate,
  };
}

/** Unknown keys, with a "did you mean" hint; their values are never printed. */
function checkKnownKeys(problems: Problems, given: Record<string, unknown>): void {
  const known = [...KNOWN_KEYS];
  for (const key of Object.keys(given)) {
    if (KNOWN_KEYS.has(key)) continue;
    const suggestion = suggestKey(key, known);
    problems.add(
      appendKey('', key.slice(0, 64)),
      suggestion
        ? `is not a known option (did you mean "${suggestion}"?)`
        : 'is not a known option',
      undefined,
      suggestion
        ? `rename it to "${suggestion}"`
        : `remove it (known options: ${known.join(', ')})`,
    );
  }
}

function checkIdentity(problems: Problems, given: Record<string, unknown>): void {
  const { registrationId, name } = given;
  if (typeof registrationId !== 'string' || registrationId.length === 0) {
    problems.add(
      'registrationId',
      'must be the registrationId of an OidcLogoutModule client',
      describeValue(registrationId),
      'set it to the registrationId of one of OidcLogoutModule\'s clients, e.g. "main"',
    );
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
    problems.add(
      'name',
      'must be a non-empty string (the passport strategy name)',
      describeValue(name),
      'omit it for "oidc:<registrationId>", or give the name OidcLoginGuard is called with',
    );
  }
  if (given.validate !== undefined && typeof given.validate !== 'function') {
    problems.add(
      'validate',
      'must be a function',
      describeValue(given.validate),
      'pass (login, request) => user (a falsy user refuses the login), or omit it',
    );
  }
}

/** The shape of each URL, then the transport rule of every URL the library talks to. */
function checkUrls(problems: Problems, given: Record<string, unknown>): void {
  if (!isAbsoluteHttpUrl(given.callbackURL)) {
    problems.add(
      'callbackURL',
      'must be the absolute http(s) redirect URI registered at the OP, without fragment',
      describeValue(given.callbackURL),
      'use the full URL of your callback route, e.g. "https://app.example.com/login/callback"',
    );
  }
  for (const key of ['authorizationEndpoint', 'tokenEndpoint'] as const) {
    if (given[key] !== undefined && !isAbsoluteHttpUrl(given[key])) {
      problems.add(
        key,
        'must be an absolute http(s) URL without fragment',
        describeValue(given[key]),
        "use the OP's full URL, or omit it to take it from the OP's discovery document",
      );
    }
  }
  const requireHttps = process.env.NODE_ENV === 'production';
  for (const key of ['callbackURL', 'authorizationEndpoint', 'tokenEndpoint'] as const) {
    const value = given[key];
    const problem = isAbsoluteHttpUrl(value)
      ? urlTransportProblem(new URL(value), requireHttps)
      : undefined;
    if (problem !== undefined) {
      problems.add(key, problem, describeValue(value), 'use https:// and no user:password@');
    }
  }
}

/** The extra scopes, `openid` and duplicates left out. */
function checkScope(problems: Problems, scope: unknown): string[] {
  const scopes: unknown = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : scope;
  if (scopes === undefined) return [];
  if (
    !Array.isArray(scopes) ||
    !scopes.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s))
  ) {
    problems.add(
      'scope',
      'must be scope tokens (a space-separated string or an array of strings)',
      describeValue(scope),
      'use e.g. "profile email" or ["profile", "email"], each scope without spaces, quotes or backslashes',
    );
    return [];
  }
  return [...new Set((scopes as string[]).filter((s) => s !== 'openid'))];
}

function checkProtocol(problems: Problems, given: Record<string, unknown>): void {
  const { pkce, tokenEndpointAuthMethod } = given;
  if (pkce !== undefined && typeof pkce !== 'boolean') {
    problems.add(
      'pkce',
      'must be a boolean',
      describeValue(pkce),
      'use true or false (not a string), or omit it for the default (true)',
    );
  }
  if (
    tokenEndpointAuthMethod !== undefined &&
    (typeof tokenEndpointAuthMethod !== 'string' || !AUTH_METHODS.has(tokenEndpointAuthMethod))
  ) {
    problems.add(
      'tokenEndpointAuthMethod',
      `must be one of ${[...AUTH_METHODS].join(', ')}`,
      describeValue(tokenEndpointAuthMethod),
      'omit it for client_secret_basic (with a clientSecret) or none (without), or pick one of these',
    );
  }
  if (tokenEndpointAuthMethod === 'none' && pkce === false) {
    problems.add(
      'pkce',
      'must stay on with tokenEndpointAuthMethod "none": a public client needs pkce',
      undefined,
      'remove pkce: false, or give the registration a clientSecret and another tokenEndpointAuthMethod',
    );
  }
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
