/**
 * `nest-oidc-logout/typeorm`: the session store on a TypeORM DataSource (PostgreSQL, MySQL/MariaDB,
 * SQLite), its entities and its migrations. Needs the optional peer dependency `typeorm`; the root
 * entry `nest-oidc-logout` never loads it.
 *
 * @packageDocumentation
 */
export { TypeOrmOidcSessionRepository } from './repositories/typeorm/typeorm-oidc-session.repository';
export type { TypeOrmOidcSessionRepositoryOptions } from './repositories/typeorm/typeorm-oidc-session-repository.options';
export type { StatementBatchLimits } from './repositories/typeorm/statement-batcher';
export type { SessionLookupCacheOptions } from './repositories/typeorm/session-lookup-cache';
export {
  TypeOrmOidcLogoutEventStore,
  type TypeOrmOidcLogoutEventStoreOptions,
} from './logout-events/typeorm/typeorm-oidc-logout-event.store';
export { OidcSessionEntity } from './repositories/typeorm/oidc-session.entity';
export { OidcLogoutEventEntity } from './repositories/typeorm/oidc-logout-event.entity';
export { OIDC_LOGOUT_ENTITIES } from './repositories/typeorm/oidc-logout-entities';
export {
  CreateOidcSessionsTable1763700000000,
  OIDC_LOGOUT_MIGRATIONS,
} from './repositories/typeorm/create-oidc-sessions-table.migration';
export { CreateOidcLogoutEventsTable1763800000000 } from './repositories/typeorm/create-oidc-logout-events-table.migration';
export { SidDigestsAndBinaryKeys1764000000000 } from './repositories/typeorm/sid-digests-and-binary-keys.migration';
