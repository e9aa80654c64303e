import type { FactoryProvider, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';
import { createStore, warnPerProcess } from '../repositories/oidc-session-repository.provider';
import {
  appDataSourceToken,
  defaultDataSource,
  loadTypeOrmStores,
} from '../repositories/typeorm-peer';
import { CheckedLogoutEventStore } from './checked-logout-event-store';
import { InMemoryOidcLogoutEventStore } from './in-memory-oidc-logout-event.store';
import { OidcLogoutEventStore } from './oidc-logout-event.store';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';

/**
 * Chooses the logout-event store: the `logoutEventStore` option, else TypeORM on the `dataSource`
 * option or on the app's own DataSource (whatever the session repository is: a custom one shared by
 * several instances keeps a shared event store), else the bounded in-memory store with the same
 * warning as the in-memory session store.
 *
 * @internal
 */
export async function createOidcLogoutEventStore(
  options: ResolvedOidcLogoutOptions,
  moduleRef: ModuleRef,
  appDataSource: DataSource | undefined,
): Promise<OidcLogoutEventStore> {
  const custom = options.logoutEventStore;
  if (custom !== undefined) return createStore(moduleRef, custom);
  const dataSource = defaultDataSource(options.dataSource, appDataSource);
  if (dataSource) {
    const { TypeOrmOidcLogoutEventStore } = await loadTypeOrmStores();
    const { batching, preparedStatements } = options.typeOrmRepository ?? {};
    const store = new TypeOrmOidcLogoutEventStore(dataSource, {
      ...(batching === undefined ? {} : { batching }),
      ...(preparedStatements === undefined ? {} : { preparedStatements }),
    });
    await store.init();
    return store;
  }
  warnPerProcess('logout events (replay claims, tombstones) are', 'logoutEventStore');
  return new InMemoryOidcLogoutEventStore({ maxEntries: options.inMemoryMaxEntries });
}

/** The provider of the {@link OidcLogoutEventStore} token. @internal */
export const oidcLogoutEventStoreProvider: FactoryProvider<Promise<OidcLogoutEventStore>> = {
  provide: OidcLogoutEventStore,
  inject: [
    OIDC_LOGOUT_RESOLVED_OPTIONS,
    ModuleRef,
    { token: appDataSourceToken() as Type<DataSource>, optional: true },
  ],
  useFactory: createOidcLogoutEventStore,
};

/** The provider of {@link CheckedLogoutEventStore}, as the checked session repository's. @internal */
export const checkedLogoutEventStoreProvider: FactoryProvider<CheckedLogoutEventStore> = {
  provide: CheckedLogoutEventStore,
  inject: [OidcLogoutEventStore, OIDC_LOGOUT_RESOLVED_OPTIONS, OidcTelemetry],
  useFactory: (
    store: OidcLogoutEventStore,
    options: ResolvedOidcLogoutOptions,
    telemetry: OidcTelemetry,
  ) => new CheckedLogoutEventStore(store, { timeoutMs: options.storeTimeoutMs, telemetry }),
};
