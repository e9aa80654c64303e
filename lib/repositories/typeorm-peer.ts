import type { DataSource } from 'typeorm';
import type * as EventStoreModule from '../logout-events/typeorm/typeorm-oidc-logout-event.store';
import type * as SessionRepositoryModule from './typeorm/typeorm-oidc-session.repository';

/**
 * `typeorm` is an optional peer dependency: the module's default stores load it (and the library's
 * TypeORM stores, whose entities import it) only when the app has a DataSource to give them, never
 * when the library itself is loaded.
 *
 * @internal
 */

/** The injection token of the app's `DataSource`: typeorm's class when it is installed. @internal */
export function appDataSourceToken(): unknown {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy: optional peer
    return (require('typeorm') as { DataSource: unknown }).DataSource;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    // Nothing provides this token: the DataSource is absent.
    return NO_TYPEORM;
  }
}

const NO_TYPEORM = Symbol('nest-oidc-logout: typeorm is not installed');

/** The library's TypeORM stores, loaded on first use. @internal */
export async function loadTypeOrmStores(): Promise<{
  TypeOrmOidcSessionRepository: typeof SessionRepositoryModule.TypeOrmOidcSessionRepository;
  TypeOrmOidcLogoutEventStore: typeof EventStoreModule.TypeOrmOidcLogoutEventStore;
}> {
  const [sessions, events] = await Promise.all([
    import('./typeorm/typeorm-oidc-session.repository.js'),
    import('../logout-events/typeorm/typeorm-oidc-logout-event.store.js'),
  ]);
  return {
    TypeOrmOidcSessionRepository: sessions.TypeOrmOidcSessionRepository,
    TypeOrmOidcLogoutEventStore: events.TypeOrmOidcLogoutEventStore,
  };
}

/** The DataSource the default stores use: the `dataSource` option, else the app's. @internal */
export function defaultDataSource(
  option: DataSource | undefined,
  app: DataSource | undefined,
): DataSource | undefined {
  return option ?? app;
}
