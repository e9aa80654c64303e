import { isAbsolute } from 'node:path';
import type { OidcRpLogoutMethod } from '../interfaces/rp-initiated-logout.interface';
import {
  DEFAULT_CLEANUP_INTERVAL_SECONDS,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_IN_MEMORY_MAX_ENTRIES,
  DEFAULT_POST_LOGOUT_LANDING_URL,
  DEFAULT_SESSION_TTL_SECONDS,
  DEFAULT_STORE_TIMEOUT_MS,
} from '../oidc-logout.constants';
import { OidcLogoutEventStore } from '../logout-events/oidc-logout-event.store';
import { OidcSessionRepository } from '../repositories/oidc-session.repository';
import {
  Problems,
  checkBoolean,
  checkKeys,
  checkLandingUrl,
  checkText,
  describeValue,
  isPlainObject,
} from './option-checks';
import type { ResolvedOidcLogoutOptions } from './resolved-oidc-logout-options';

import { MODULE_KEYS } from './option-keys';
import { validateClients } from './validate-clients';
import { validateRoutes } from './validate-routes';
import { validateTypeOrmRepository } from './validate-typeorm-repository';

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
    | 'httpTimeoutMs'
    | 'storeTimeoutMs';
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
  {
    key: 'storeTimeoutMs',
    min: 1,
    max: 60_000,
    fallback: DEFAULT_STORE_TIMEOUT_MS,
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

/** A store option: the contract it implements, by its option's key. */
const STORES = {
  sessionRepository: { contract: OidcSessionRepository, methods: REPOSITORY_METHODS },
  logoutEventStore: {
    contract: OidcLogoutEventStore,
    methods: ['begin', 'complete', 'findTombstones'],
  },
} as const;

function validateRepository(
  problems: Problems,
  value: unknown,
  key: keyof typeof STORES = 'sessionRepository',
): void {
  const { contract, methods } = STORES[key];
  const fix = `extend ${contract.name} and implement ${methods.join(', ')}, then pass the class or an instance`;
  let target: unknown = value;
  let what = 'an object';
  if (typeof value === 'function') {
    target = (value as { prototype?: unknown }).prototype;
    what = 'a class';
  }
  if (typeof target !== 'object' || target === null) {
    problems.add(
      key,
      `must be a class or an instance implementing ${contract.name}`,
      describeValue(value),
      fix,
    );
    return;
  }
  // A subclass may implement the methods as arrow-function fields, absent from its prototype.
  if (target instanceof contract) {
    return;
  }
  const missing = (methods as readonly string[]).filter(
    (method) => typeof (target as Record<string, unknown>)[method] !== 'function',
  );
  if (missing.length > 0) {
    problems.add(
      key,
      `is ${what} without the method(s) ${missing.join(', ')} of ${contract.name}`,
      describeValue(value),
      fix,
    );
  }
}

/** `pendingLogoutJournal`: an absolute path of a file (on a local disk). */
function validateJournalPath(problems: Problems, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const what = "an absolute file path such as '/var/lib/my-app/oidc-pending-logouts.journal'";
  if (!checkText(problems, 'pendingLogoutJournal', value, what)) return undefined;
  if (!isAbsolute(value) || value.includes('\0') || value.endsWith('/')) {
    problems.add(
      'pendingLogoutJournal',
      'must be an absolute path of a file',
      describeValue(value),
      `use ${what} (resolve a relative one with path.resolve(...)), or omit it`,
    );
    return undefined;
  }
  return value;
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
 * The same transport rule holds for the URLs discovery finds at run time (`requireHttps`).
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
  const { logoutEventStore } = raw;
  if (logoutEventStore !== undefined) {
    validateRepository(problems, logoutEventStore, 'logoutEventStore');
  }
  if (sessionRepository !== undefined && dataSource !== undefined) {
    problems.add(
      'sessionRepository',
      'is set together with dataSource, so it is ambiguous which store to use',
      undefined,
      'keep only sessionRepository (build it on your DataSource yourself), or only dataSource for the default TypeORM repository',
    );
  }

  const typeOrmRepository = validateTypeOrmRepository(
    problems,
    raw.typeOrmRepository,
    sessionRepository !== undefined,
  );

  const { onRevocation } = raw;
  if (onRevocation !== undefined && typeof onRevocation !== 'function') {
    problems.add(
      'onRevocation',
      'must be a function',
      describeValue(onRevocation),
      'pass (event) => { ... }, or omit it',
    );
  }

  const pendingLogoutJournal = validateJournalPath(problems, raw.pendingLogoutJournal);

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
    requireHttps: production,
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
  if (logoutEventStore !== undefined) {
    resolved.logoutEventStore = logoutEventStore as ResolvedOidcLogoutOptions['logoutEventStore'];
  }
  if (typeOrmRepository !== undefined) {
    resolved.typeOrmRepository = typeOrmRepository;
  }
  if (pendingLogoutJournal !== undefined) {
    resolved.pendingLogoutJournal = pendingLogoutJournal;
  }
  if (typeof onRevocation === 'function') {
    resolved.onRevocation = onRevocation as ResolvedOidcLogoutOptions['onRevocation'];
  }
  return Object.freeze(resolved);
}
