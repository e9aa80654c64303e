import { OidcLogoutEventStore } from '../logout-events/oidc-logout-event.store';
import { OidcSessionRepository } from '../repositories/oidc-session.repository';
import { describeValue, type Problems } from './option-checks';
import type { ResolvedOidcLogoutOptions } from './resolved-oidc-logout-options';
import { validateTypeOrmRepository } from './validate-typeorm-repository';

/** The store options, validated: only those given. @internal */
export type ResolvedStores = Pick<
  ResolvedOidcLogoutOptions,
  'sessionRepository' | 'dataSource' | 'logoutEventStore' | 'typeOrmRepository'
>;

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

/**
 * Where the sessions and the logout events are kept: `sessionRepository`, `dataSource`,
 * `logoutEventStore` and `typeOrmRepository` (the first two not together). Returns those given;
 * their problems are added to `problems`.
 *
 * @internal
 */
export function validateStores(problems: Problems, raw: Record<string, unknown>): ResolvedStores {
  const { sessionRepository, dataSource, logoutEventStore } = raw;
  if (sessionRepository !== undefined) {
    validateRepository(problems, sessionRepository);
  }
  if (dataSource !== undefined) {
    validateDataSource(problems, dataSource);
  }
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
  const stores: ResolvedStores = {};
  if (sessionRepository !== undefined) {
    stores.sessionRepository = sessionRepository as ResolvedStores['sessionRepository'];
  }
  if (dataSource !== undefined) {
    stores.dataSource = dataSource as ResolvedStores['dataSource'];
  }
  if (logoutEventStore !== undefined) {
    stores.logoutEventStore = logoutEventStore as ResolvedStores['logoutEventStore'];
  }
  if (typeOrmRepository !== undefined) {
    stores.typeOrmRepository = typeOrmRepository;
  }
  return stores;
}

/** A class or an instance of the store contract of option `key`, checked by its methods. */
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
