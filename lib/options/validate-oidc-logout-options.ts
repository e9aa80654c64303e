import type {
  OidcBackChannelOptions,
  OidcClientRegistration,
  OidcFrontChannelOptions,
  OidcLogoutModuleOptions,
  OidcLogoutRoutes,
} from '../interfaces/oidc-logout-module-options.interface';
import type { OidcRpLogoutMethod } from '../interfaces/rp-initiated-logout.interface';
import {
  DEFAULT_CLEANUP_INTERVAL_SECONDS,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_IN_MEMORY_MAX_ENTRIES,
  DEFAULT_POST_LOGOUT_LANDING_URL,
  DEFAULT_ROUTES,
  DEFAULT_SESSION_TTL_SECONDS,
} from '../oidc-logout.constants';
import { OidcSessionRepository } from '../repositories/oidc-session.repository';
import {
  Problems,
  checkAbsoluteUrl,
  checkBoolean,
  checkKeys,
  checkLandingUrl,
  checkText,
  describeValue,
  isPlainObject,
  routeProblem,
  suggestKey,
} from './option-checks';
import { ASYMMETRIC_ALGORITHMS, SYMMETRIC_ALGORITHMS } from '../tokens/signing-algorithms';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from './resolved-oidc-logout-options';

/** Known keys, checked against the interfaces at compile time so that they never drift. */
const MODULE_KEYS = [
  'clients',
  'routes',
  'postLogoutLandingUrl',
  'loginUrl',
  'rpLogoutMethod',
  'sessionRepository',
  'dataSource',
  'clockToleranceSeconds',
  'legacyLogoutTokens',
  'sessionTtlSeconds',
  'inMemoryMaxEntries',
  'cleanupIntervalSeconds',
  'httpTimeoutMs',
  'onRevocation',
] as const satisfies readonly (keyof OidcLogoutModuleOptions)[];
const CLIENT_KEYS = [
  'registrationId',
  'issuer',
  'clientId',
  'clientSecret',
  'postLogoutRedirectUri',
  'backChannel',
  'frontChannel',
  'algorithms',
  'legacyLogoutTokens',
  'discovery',
  'endSessionEndpoint',
  'jwksUri',
  'decryptionKey',
] as const satisfies readonly (keyof OidcClientRegistration)[];
const ROUTE_KEYS = [
  'logout',
  'logoutCallback',
  'backChannel',
  'frontChannel',
] as const satisfies readonly (keyof OidcLogoutRoutes)[];
const BACK_CHANNEL_KEYS = [
  'sessionRequired',
] as const satisfies readonly (keyof OidcBackChannelOptions)[];
const FRONT_CHANNEL_KEYS = [
  'sessionRequired',
  'allowMissingIssuer',
] as const satisfies readonly (keyof OidcFrontChannelOptions)[];

type Exhaustive<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : never;
const _keyListsAreComplete: [
  Exhaustive<keyof OidcLogoutModuleOptions, (typeof MODULE_KEYS)[number]>,
  Exhaustive<keyof OidcClientRegistration, (typeof CLIENT_KEYS)[number]>,
  Exhaustive<keyof OidcLogoutRoutes, (typeof ROUTE_KEYS)[number]>,
  Exhaustive<keyof OidcBackChannelOptions, (typeof BACK_CHANNEL_KEYS)[number]>,
  Exhaustive<keyof OidcFrontChannelOptions, (typeof FRONT_CHANNEL_KEYS)[number]>,
] = [true, true, true, true, true];

/** JWS algorithms a registration may list: the asymmetric ones, then HMAC. `none` is never among them. */
const ALLOWED_ALGORITHMS: readonly string[] = [...ASYMMETRIC_ALGORITHMS, ...SYMMETRIC_ALGORITHMS];

const REGISTRATION_ID = /^[A-Za-z0-9._-]{1,64}$/;

const REPOSITORY_METHODS = [
  'save',
  'findByClientSessionId',
  'removeByClientSessionId',
  'removeByLogoutToken',
] as const;

interface IntegerRule {
  key:
    | 'clockToleranceSeconds'
    | 'sessionTtlSeconds'
    | 'inMemoryMaxEntries'
    | 'cleanupIntervalSeconds'
    | 'httpTimeoutMs';
  min: number;
  max: number;
  fallback: number;
  unit: string;
}

const INTEGER_RULES: readonly IntegerRule[] = [
  {
    key: 'clockToleranceSeconds',
    min: 0,
    max: 600,
    fallback: DEFAULT_CLOCK_TOLERANCE_SECONDS,
    unit: 'seconds',
  },
  {
    key: 'sessionTtlSeconds',
    min: 1,
    max: 31_536_000,
    fallback: DEFAULT_SESSION_TTL_SECONDS,
    unit: 'seconds',
  },
  {
    key: 'inMemoryMaxEntries',
    min: 1,
    max: 10_000_000,
    fallback: DEFAULT_IN_MEMORY_MAX_ENTRIES,
    unit: 'entries',
  },
  {
    key: 'cleanupIntervalSeconds',
    min: 1,
    max: 604_800,
    fallback: DEFAULT_CLEANUP_INTERVAL_SECONDS,
    unit: 'seconds',
  },
  {
    key: 'httpTimeoutMs',
    min: 1,
    max: 60_000,
    fallback: DEFAULT_HTTP_TIMEOUT_MS,
    unit: 'milliseconds',
  },
];

function checkInteger(
  problems: Problems,
  object: Record<string, unknown>,
  rule: IntegerRule,
): number {
  const value = object[rule.key];
  if (value === undefined) {
    return rule.fallback;
  }
  const range = `an integer number of ${rule.unit} between ${rule.min} and ${rule.max}`;
  if (typeof value !== 'number') {
    problems.add(
      rule.key,
      `must be a number of ${rule.unit}`,
      describeValue(value),
      `use ${range}, e.g. ${rule.fallback} (convert environment variables with Number(...))`,
    );
  } else if (!Number.isFinite(value) || !Number.isInteger(value)) {
    problems.add(rule.key, 'must be a finite integer', describeValue(value), `use ${range}`);
  } else if (value < rule.min) {
    problems.add(
      rule.key,
      rule.min === 0 ? 'must not be negative' : 'must be greater than 0 (a non-positive limit)',
      describeValue(value),
      `use ${range}`,
    );
  } else if (value > rule.max) {
    problems.add(rule.key, `must be at most ${rule.max}`, describeValue(value), `use ${range}`);
  } else {
    return value;
  }
  return rule.fallback;
}

function validateRoutes(problems: Problems, raw: unknown): Readonly<Required<OidcLogoutRoutes>> {
  const routes: Required<OidcLogoutRoutes> = { ...DEFAULT_ROUTES };
  if (raw === undefined) {
    return Object.freeze(routes);
  }
  if (!isPlainObject(raw)) {
    problems.add(
      'routes',
      'must be a plain object',
      describeValue(raw),
      `use { ${ROUTE_KEYS.map((key) => `${key}?: string`).join(', ')} }, or omit it for the defaults`,
    );
    return Object.freeze(routes);
  }
  checkKeys(problems, 'routes', raw, ROUTE_KEYS);
  const valid = new Set<keyof OidcLogoutRoutes>();
  for (const key of ROUTE_KEYS) {
    const value = raw[key];
    const path = `routes.${key}`;
    if (value === undefined) {
      valid.add(key);
      continue;
    }
    if (typeof value !== 'string') {
      problems.add(
        path,
        'must be a string',
        describeValue(value),
        `use a path such as "${DEFAULT_ROUTES[key]}"`,
      );
      continue;
    }
    const problem = routeProblem(value);
    if (problem) {
      problems.add(path, problem.problem, describeValue(value), problem.fix);
      continue;
    }
    routes[key] = value;
    valid.add(key);
  }
  checkRouteConflicts(problems, routes, raw, valid);
  return Object.freeze(routes);
}

/**
 * Routes must differ (Express matches case-insensitively), and no fixed route may sit where a
 * `${prefix}/:registrationId` route would catch it.
 */
function checkRouteConflicts(
  problems: Problems,
  routes: Required<OidcLogoutRoutes>,
  raw: Record<string, unknown>,
  valid: ReadonlySet<keyof OidcLogoutRoutes>,
): void {
  const label = (key: keyof OidcLogoutRoutes): string =>
    raw[key] === undefined ? `routes.${key} (default)` : `routes.${key}`;
  const keys = ROUTE_KEYS.filter((key) => valid.has(key));
  for (let i = 0; i < keys.length; i++) {
    for (let j = i + 1; j < keys.length; j++) {
      const a = keys[i];
      const b = keys[j];
      if (a === undefined || b === undefined) {
        continue;
      }
      if (routes[a].toLowerCase() === routes[b].toLowerCase()) {
        // Blame the route the application set, not the default it collides with.
        const [key, other] = raw[b] !== undefined ? [b, a] : [a, b];
        problems.add(
          `routes.${key}`,
          `is the same path as ${label(other)}`,
          describeValue(routes[key]),
          'give each route its own path',
        );
      }
    }
  }
  for (const fixed of ['logout', 'logoutCallback'] as const) {
    for (const prefix of ['backChannel', 'frontChannel'] as const) {
      if (!valid.has(fixed) || !valid.has(prefix)) {
        continue;
      }
      const base = `${routes[prefix].toLowerCase()}/`;
      const route = routes[fixed].toLowerCase();
      if (route.startsWith(base) && !route.slice(base.length).includes('/')) {
        problems.add(
          `routes.${fixed}`,
          `would be caught by the ${label(prefix)} route "${routes[prefix]}/:registrationId"`,
          describeValue(routes[fixed]),
          `move one of them, e.g. keep routes.${fixed} outside "${routes[prefix]}/"`,
        );
      }
    }
  }
}

function validateChannel<K extends string>(
  problems: Problems,
  path: string,
  value: unknown,
  keys: readonly K[],
  defaults: Record<K, boolean>,
): Record<K, boolean> | false {
  if (value === false) {
    return false;
  }
  const shape = `{ ${keys.map((key) => `${key}?: boolean`).join(', ')} }`;
  if (value === undefined) {
    return Object.freeze({ ...defaults });
  }
  if (!isPlainObject(value)) {
    problems.add(
      path,
      `must be false or an object ${shape}`,
      describeValue(value),
      value === true
        ? 'omit it (or use {}) to enable it with the defaults; use false to disable it'
        : `use false to disable it, or ${shape}`,
    );
    return Object.freeze({ ...defaults });
  }
  checkKeys(problems, path, value, keys);
  const resolved = { ...defaults };
  for (const key of keys) {
    resolved[key] = checkBoolean(problems, `${path}.${key}`, value[key], defaults[key]);
  }
  return Object.freeze(resolved);
}

function validateAlgorithms(
  problems: Problems,
  path: string,
  value: unknown,
  hasSecret: boolean,
): readonly string[] | undefined {
  if (value === undefined) {
    return undefined;
  }
  const allowed = ALLOWED_ALGORITHMS.join(', ');
  if (!Array.isArray(value)) {
    problems.add(
      path,
      'must be an array of JWS algorithm names',
      describeValue(value),
      `use e.g. ['RS256'], or omit it to use the OP's advertised algorithms (else RS256)`,
    );
    return undefined;
  }
  if (value.length === 0) {
    problems.add(
      path,
      'must not be empty (no token could ever be verified)',
      '[]',
      `list at least one of ${allowed}, or omit it to use the OP's advertised algorithms`,
    );
    return undefined;
  }
  const seen = new Map<string, number>();
  const list: string[] = [];
  value.forEach((alg: unknown, index) => {
    const itemPath = `${path}[${index}]`;
    if (typeof alg !== 'string') {
      problems.add(itemPath, 'must be a string', describeValue(alg), `use one of ${allowed}`);
      return;
    }
    if (alg.toLowerCase() === 'none') {
      problems.add(
        itemPath,
        '"none" (unsigned tokens) is never accepted: anyone could forge a logout token',
        describeValue(alg),
        'remove it and list the algorithm your OP signs with, e.g. RS256',
      );
      return;
    }
    if (!ALLOWED_ALGORITHMS.includes(alg)) {
      const suggestion = suggestKey(alg, ALLOWED_ALGORITHMS);
      problems.add(
        itemPath,
        suggestion
          ? `is not a supported JWS algorithm (did you mean "${suggestion}"?)`
          : 'is not a supported JWS algorithm',
        describeValue(alg),
        `use one of ${allowed}`,
      );
      return;
    }
    if (SYMMETRIC_ALGORITHMS.has(alg) && !hasSecret) {
      problems.add(
        itemPath,
        `${alg} tokens are keyed with the client secret, but clientSecret is not set`,
        describeValue(alg),
        `set clientSecret on this registration, or remove ${alg}`,
      );
      return;
    }
    const first = seen.get(alg);
    if (first !== undefined) {
      problems.add(
        itemPath,
        `repeats ${path}[${first}]`,
        describeValue(alg),
        'remove the duplicate',
      );
      return;
    }
    seen.set(alg, index);
    list.push(alg);
  });
  return Object.freeze(list);
}

function validateClient(
  problems: Problems,
  index: number,
  raw: unknown,
  legacyDefault: boolean,
  production: boolean,
): ResolvedClientRegistration | undefined {
  const path = `clients[${index}]`;
  if (!isPlainObject(raw)) {
    problems.add(
      path,
      'must be a plain object (a client registration)',
      describeValue(raw),
      'use { registrationId, issuer, clientId, ... }',
    );
    return undefined;
  }
  checkKeys(problems, path, raw, CLIENT_KEYS);
  const at = (key: string): string => `${path}.${key}`;

  const { registrationId, issuer, clientId, clientSecret } = raw;
  let idValid = false;
  if (registrationId === undefined) {
    problems.add(
      at('registrationId'),
      'is required',
      undefined,
      'set a unique id such as "main" (it appears in the logout URLs)',
    );
  } else if (typeof registrationId !== 'string' || !REGISTRATION_ID.test(registrationId)) {
    problems.add(
      at('registrationId'),
      'must be 1 to 64 letters, digits, ".", "_" or "-", as it is a URL path segment',
      describeValue(registrationId),
      'use a short id such as "main" or "keycloak-prod"',
    );
  } else {
    idValid = true;
  }

  const issuerExample = 'https://op.example.com/realms/main';
  if (issuer === undefined) {
    problems.add(
      at('issuer'),
      'is required',
      undefined,
      `set the OP's issuer exactly as in its tokens, e.g. "${issuerExample}"`,
    );
  } else {
    checkAbsoluteUrl(
      problems,
      at('issuer'),
      issuer,
      { example: issuerExample, query: false, httpsInProduction: true },
      production,
    );
  }

  if (clientId === undefined) {
    problems.add(
      at('clientId'),
      'is required',
      undefined,
      'set the client id registered at the OP',
    );
  } else {
    checkText(problems, at('clientId'), clientId, 'the client id registered at the OP');
  }

  const hasSecret =
    clientSecret !== undefined &&
    checkText(problems, at('clientSecret'), clientSecret, 'the client secret issued by the OP', {
      secret: true,
    });

  const resolved: ResolvedClientRegistration = {
    registrationId: registrationId as string,
    issuer: issuer as string,
    clientId: clientId as string,
    backChannel: validateChannel(problems, at('backChannel'), raw.backChannel, BACK_CHANNEL_KEYS, {
      sessionRequired: true,
    }),
    frontChannel: validateChannel(
      problems,
      at('frontChannel'),
      raw.frontChannel,
      FRONT_CHANNEL_KEYS,
      {
        sessionRequired: true,
        allowMissingIssuer: false,
      },
    ),
    legacyLogoutTokens: checkBoolean(
      problems,
      at('legacyLogoutTokens'),
      raw.legacyLogoutTokens,
      legacyDefault,
    ),
    discovery: checkBoolean(problems, at('discovery'), raw.discovery, true),
  };
  if (hasSecret) {
    resolved.clientSecret = clientSecret;
  }
  const { decryptionKey } = raw;
  if (decryptionKey !== undefined) {
    if (typeof decryptionKey === 'object' && decryptionKey !== null) {
      resolved.decryptionKey = decryptionKey;
    } else {
      problems.add(
        at('decryptionKey'),
        'must be a private JWK, a KeyObject or a CryptoKey',
        '<redacted>',
        'pass the private key matching the encryption key you registered at the OP, or omit it',
      );
    }
  }
  const algorithms = validateAlgorithms(problems, at('algorithms'), raw.algorithms, hasSecret);
  if (algorithms) {
    resolved.algorithms = algorithms;
  }

  const urls = [
    ['postLogoutRedirectUri', 'https://app.example.com/logout/callback', false],
    ['endSessionEndpoint', 'https://op.example.com/logout', true],
    ['jwksUri', 'https://op.example.com/jwks', true],
  ] as const;
  for (const [key, example, opUrl] of urls) {
    const value = raw[key];
    if (
      value !== undefined &&
      checkAbsoluteUrl(
        problems,
        at(key),
        value,
        { example, query: true, httpsInProduction: opUrl },
        production,
      )
    ) {
      resolved[key] = value;
    }
  }

  if (resolved.discovery === false && raw.jwksUri === undefined) {
    problems.add(
      at('discovery'),
      'is false but jwksUri is not set, so the signing keys cannot be found',
      'false',
      `set ${at('jwksUri')} to the OP's JWKS URL, or enable discovery`,
    );
  }
  return idValid ? Object.freeze(resolved) : undefined;
}

function checkUniqueness(problems: Problems, clients: readonly unknown[]): void {
  const ids = new Map<string, number>();
  const pairs = new Map<string, number>();
  clients.forEach((client, index) => {
    if (!isPlainObject(client)) {
      return;
    }
    const { registrationId, issuer, clientId } = client;
    if (typeof registrationId === 'string' && REGISTRATION_ID.test(registrationId)) {
      const key = registrationId.toLowerCase();
      const first = ids.get(key);
      if (first === undefined) {
        ids.set(key, index);
      } else {
        problems.add(
          `clients[${index}].registrationId`,
          `duplicates clients[${first}].registrationId (ids are compared ignoring case, as URL routes are)`,
          describeValue(registrationId),
          'give each registration its own registrationId',
        );
      }
    }
    if (typeof issuer === 'string' && typeof clientId === 'string' && clientId !== '') {
      const key = JSON.stringify([issuer, clientId]);
      const first = pairs.get(key);
      if (first === undefined) {
        pairs.set(key, index);
      } else {
        problems.add(
          `clients[${index}]`,
          `has the same issuer and clientId as clients[${first}], so their tokens could not be told apart`,
          describeValue({ issuer, clientId }),
          'remove the duplicate registration, or fix its issuer or clientId',
        );
      }
    }
  });
}

function validateClients(
  problems: Problems,
  raw: unknown,
  legacyDefault: boolean,
  production: boolean,
): readonly ResolvedClientRegistration[] {
  const fix =
    'use clients: [{ registrationId: "main", issuer: "https://op.example.com", clientId: "my-app" }]';
  if (raw === undefined) {
    problems.add('clients', 'is required', undefined, fix);
    return Object.freeze([]);
  }
  if (!Array.isArray(raw)) {
    problems.add('clients', 'must be an array of client registrations', describeValue(raw), fix);
    return Object.freeze([]);
  }
  if (raw.length === 0) {
    problems.add('clients', 'must contain at least one client registration', '[]', fix);
    return Object.freeze([]);
  }
  const resolved: ResolvedClientRegistration[] = [];
  for (let index = 0; index < raw.length; index++) {
    const client = validateClient(
      problems,
      index,
      raw[index] as unknown,
      legacyDefault,
      production,
    );
    if (client) {
      resolved.push(client);
    }
  }
  checkUniqueness(problems, raw);
  return Object.freeze(resolved);
}

function validateRepository(problems: Problems, value: unknown): void {
  const fix = `extend OidcSessionRepository and implement ${REPOSITORY_METHODS.join(', ')}, then pass the class or an instance`;
  let target: unknown = value;
  let what = 'an object';
  if (typeof value === 'function') {
    target = (value as { prototype?: unknown }).prototype;
    what = 'a class';
  }
  if (typeof target !== 'object' || target === null) {
    problems.add(
      'sessionRepository',
      'must be a class or an instance implementing OidcSessionRepository',
      describeValue(value),
      fix,
    );
    return;
  }
  // A subclass may implement the methods as arrow-function fields, absent from its prototype.
  if (target instanceof OidcSessionRepository) {
    return;
  }
  const missing = REPOSITORY_METHODS.filter(
    (method) => typeof (target as Record<string, unknown>)[method] !== 'function',
  );
  if (missing.length > 0) {
    problems.add(
      'sessionRepository',
      `is ${what} without the method(s) ${missing.join(', ')} of OidcSessionRepository`,
      describeValue(value),
      fix,
    );
  }
}

const RP_LOGOUT_METHODS = ['GET', 'POST'] as const satisfies readonly OidcRpLogoutMethod[];

/** `rpLogoutMethod`: exactly 'GET' or 'POST' (the HTTP method names, upper case). */
function validateRpLogoutMethod(problems: Problems, value: unknown): OidcRpLogoutMethod {
  if (value === undefined) {
    return 'GET';
  }
  if (typeof value === 'string' && (RP_LOGOUT_METHODS as readonly string[]).includes(value)) {
    return value as OidcRpLogoutMethod;
  }
  const upper = typeof value === 'string' ? value.trim().toUpperCase() : undefined;
  problems.add(
    'rpLogoutMethod',
    "must be 'GET' or 'POST'",
    describeValue(value),
    upper === 'GET' || upper === 'POST'
      ? `use '${upper}' (upper case, no spaces)`
      : "use 'GET' (a redirect, the default) or 'POST' (an auto-submitting form), or omit it",
  );
  return 'GET';
}

function validateDataSource(problems: Problems, value: unknown): void {
  const looksRight =
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>).initialize === 'function' &&
    typeof (value as Record<string, unknown>).getRepository === 'function';
  if (!looksRight) {
    problems.add(
      'dataSource',
      'must be a TypeORM DataSource (an object with initialize() and getRepository())',
      describeValue(value),
      "pass your DataSource instance, or omit it to use the app's TypeORM DataSource",
    );
  }
}

/**
 * Validates the options of `OidcLogoutModule` at startup and returns them with every default applied,
 * deeply frozen and sharing no array or plain object with the input (`sessionRepository` and
 * `dataSource` are kept by reference).
 *
 * Every problem is collected; one {@link OidcLogoutOptionsError} (code `ERR_INVALID_OPTIONS`) lists
 * them all, one per line, each naming the option path, the offending value (the client secret is
 * always `<redacted>`) and the fix. Keys set to `undefined` count as absent.
 *
 * URL policy: the OP's URLs (`issuer`, `jwksUri`, `endSessionEndpoint`) must be https when `nodeEnv`
 * is `'production'`, except for loopback hosts (`localhost`, `127.0.0.1`, `[::1]`); outside production
 * http is accepted anywhere, for local OPs and containers. The app's own URLs
 * (`postLogoutRedirectUri`, `postLogoutLandingUrl`, `loginUrl`) may be http: the OP enforces its
 * registration rules for them. No URL may carry a fragment or credentials; the issuer no query.
 *
 * @param raw the options as given by the application (untrusted shape)
 * @param nodeEnv the deployment environment; defaults to `process.env.NODE_ENV`
 * @throws OidcLogoutOptionsError when any option is invalid
 * @internal
 */
export function validateOidcLogoutOptions(
  raw: unknown,
  nodeEnv: string | undefined = process.env.NODE_ENV,
): ResolvedOidcLogoutOptions {
  const problems = new Problems();
  if (!isPlainObject(raw)) {
    problems.add(
      'options',
      'must be a plain object',
      describeValue(raw),
      'pass an object literal such as { clients: [{ registrationId, issuer, clientId }] }',
    );
    throw problems.toError();
  }
  const production = nodeEnv === 'production';
  checkKeys(problems, '', raw, MODULE_KEYS);

  const legacyLogoutTokens = checkBoolean(
    problems,
    'legacyLogoutTokens',
    raw.legacyLogoutTokens,
    false,
  );
  const clients = validateClients(problems, raw.clients, legacyLogoutTokens, production);
  const routes = validateRoutes(problems, raw.routes);

  let postLogoutLandingUrl = DEFAULT_POST_LOGOUT_LANDING_URL;
  if (
    raw.postLogoutLandingUrl !== undefined &&
    checkLandingUrl(problems, 'postLogoutLandingUrl', raw.postLogoutLandingUrl)
  ) {
    postLogoutLandingUrl = raw.postLogoutLandingUrl;
  }
  const loginUrl = raw.loginUrl;
  if (loginUrl !== undefined) {
    checkLandingUrl(problems, 'loginUrl', loginUrl);
  }
  const rpLogoutMethod = validateRpLogoutMethod(problems, raw.rpLogoutMethod);

  const { sessionRepository, dataSource } = raw;
  if (sessionRepository !== undefined) {
    validateRepository(problems, sessionRepository);
  }
  if (dataSource !== undefined) {
    validateDataSource(problems, dataSource);
  }
  if (sessionRepository !== undefined && dataSource !== undefined) {
    problems.add(
      'sessionRepository',
      'is set together with dataSource, so it is ambiguous which store to use',
      undefined,
      'keep only sessionRepository (build it on your DataSource yourself), or only dataSource for the default TypeORM repository',
    );
  }

  const { onRevocation } = raw;
  if (onRevocation !== undefined && typeof onRevocation !== 'function') {
    problems.add(
      'onRevocation',
      'must be a function',
      describeValue(onRevocation),
      'pass (event) => { ... }, or omit it',
    );
  }

  const numbers = {} as Record<IntegerRule['key'], number>;
  for (const rule of INTEGER_RULES) {
    numbers[rule.key] = checkInteger(problems, raw, rule);
  }

  if (!problems.empty) {
    throw problems.toError();
  }
  const resolved: ResolvedOidcLogoutOptions = {
    clients,
    routes,
    postLogoutLandingUrl,
    rpLogoutMethod,
    legacyLogoutTokens,
    ...numbers,
  };
  if (typeof loginUrl === 'string') {
    resolved.loginUrl = loginUrl;
  }
  if (sessionRepository !== undefined) {
    resolved.sessionRepository =
      sessionRepository as ResolvedOidcLogoutOptions['sessionRepository'];
  }
  if (dataSource !== undefined) {
    resolved.dataSource = dataSource as ResolvedOidcLogoutOptions['dataSource'];
  }
  if (typeof onRevocation === 'function') {
    resolved.onRevocation = onRevocation as ResolvedOidcLogoutOptions['onRevocation'];
  }
  return Object.freeze(resolved);
}
