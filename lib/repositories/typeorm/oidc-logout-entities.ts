import { OidcLogoutEventEntity } from './oidc-logout-event.entity';
import { OidcSessionEntity } from './oidc-session.entity';

/**
 * Every TypeORM entity of the library: add them all to the `entities` of the `DataSource` the
 * session repository uses (`entities: [...OIDC_LOGOUT_ENTITIES, ...yours]`), or register them with
 * `TypeOrmModule.forFeature(OIDC_LOGOUT_ENTITIES)` and `autoLoadEntities`.
 *
 * @publicApi
 */
export const OIDC_LOGOUT_ENTITIES: [typeof OidcSessionEntity, typeof OidcLogoutEventEntity] = [
  OidcSessionEntity,
  OidcLogoutEventEntity,
];
