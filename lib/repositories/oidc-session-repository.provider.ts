import { Logger, type FactoryProvider, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';
import { CheckedSessionRepository } from './checked-session-repository';
import { InMemoryOidcSessionRepository } from './in-memory-oidc-session.repository';
import { OidcSessionRepository } from './oidc-session.repository';
import { appDataSourceToken, defaultDataSource, loadTypeOrmStores } from './typeorm-peer';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';

/** A store option: a class Nest instantiates with injection, or an instance used as is. @internal */
export function createStore<T extends object>(
  moduleRef: ModuleRef,
  store: Type<T> | T,
): Promise<T> | T {
  return typeof store === 'function' ? moduleRef.create(store) : store;
}

/** The warning of a default store that keeps its entries in this process. @internal */
export function warnPerProcess(what: string, missing: string): void {
  new Logger('OidcLogout').warn(
    `No TypeORM DataSource and no ${missing}: ${what} kept in memory, in this process only (a logout reaching one instance does not end sessions on the others)`,
  );
}

/**
 * Chooses the session repository: the `sessionRepository` option (a class is instantiated with
 * injection, an instance used as is), else TypeORM on the `dataSource` option or on the app's own
 * DataSource, else the bounded in-memory repository with a warning that it is per-process.
 *
 * @internal
 */
export async function createOidcSessionRepository(
  options: ResolvedOidcLogoutOptions,
  moduleRef: ModuleRef,
  appDataSource: DataSource | undefined,
): Promise<OidcSessionRepository> {
  const custom = options.sessionRepository;
  if (custom !== undefined) return createStore(moduleRef, custom);
  const dataSource = defaultDataSource(options.dataSource, appDataSource);
  if (dataSource) {
    const { TypeOrmOidcSessionRepository } = await loadTypeOrmStores();
    const repository = new TypeOrmOidcSessionRepository(dataSource, options.typeOrmRepository);
    await repository.init();
    return repository;
  }
  warnPerProcess('OIDC sessions are', 'sessionRepository');
  return new InMemoryOidcSessionRepository({ maxEntries: options.inMemoryMaxEntries });
}

/** The provider of the {@link OidcSessionRepository} token. @internal */
export const oidcSessionRepositoryProvider: FactoryProvider<Promise<OidcSessionRepository>> = {
  provide: OidcSessionRepository,
  inject: [
    OIDC_LOGOUT_RESOLVED_OPTIONS,
    ModuleRef,
    { token: appDataSourceToken() as Type<DataSource>, optional: true },
  ],
  useFactory: createOidcSessionRepository,
};

/**
 * The provider of {@link CheckedSessionRepository}: the app's repository behind the checks and the
 * `storeTimeoutMs` bound. Every part of the library talks to the store through it; the app keeps
 * injecting {@link OidcSessionRepository} itself.
 *
 * @internal
 */
export const checkedSessionRepositoryProvider: FactoryProvider<CheckedSessionRepository> = {
  provide: CheckedSessionRepository,
  inject: [OidcSessionRepository, OIDC_LOGOUT_RESOLVED_OPTIONS, OidcTelemetry],
  useFactory: (
    repository: OidcSessionRepository,
    options: ResolvedOidcLogoutOptions,
    telemetry: OidcTelemetry,
  ) => new CheckedSessionRepository(repository, { timeoutMs: options.storeTimeoutMs, telemetry }),
};
