import { isAbsolute } from 'node:path';
import { OidcLogoutEventStore } from '../logout-events/oidc-logout-event.store';
import { OidcSessionRepository } from '../repositories/oidc-session.repository';
import {
  Problems,
  checkBoolean,
  checkKeys,
  checkText,
  describeValue,
  isPlainObject,
} from './option-checks';
import type { ResolvedOidcLogoutOptions } from './resolved-oidc-logout-options';
import { MODULE_KEYS } from './option-keys';
import { validateClients } from './validate-clients';
import { validateNumbers } from './validate-numbers';
import { validatePages } from './validate-pages';
import { validateRoutes } from './validate-routes';
import { validateTypeOrmRepository } from './validate-typeorm-repository';

const REPOSITORY_METHODS = [
  'save',
  'findByClientSessionId',
  'removeByClientSessionId',
  'removeByLogoutToken',
] as const;

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

function checkOnRevocation(problems: Problems, onRevocation: unknown): void {
  if (onRevocation !== undefined && typeof onRevocation !== 'function') {
    problems.add(
      'onRevocation',
      'must be a function',
      describeValue(onRevocation),
      'pass (event) => { ... }, or omit it',
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

  const { postLogoutLandingUrl, loginUrl, rpLogoutMethod } = validatePages(problems, raw);

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
  checkOnRevocation(problems, onRevocation);
  const pendingLogoutJournal = validateJournalPath(problems, raw.pendingLogoutJournal);
  const numbers = validateNumbers(problems, raw);

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
