/**
 * nest-oidc-logout: OpenID Connect single sign-out for NestJS.
 *
 * Everything public is exported from here; deep imports are not supported.
 *
 * @packageDocumentation
 */
export { OidcLogoutModule } from './oidc-logout.module';
export {
  OIDC_LOGOUT_MODULE_OPTIONS,
  type OidcLogoutModuleExtras,
} from './oidc-logout.module-definition';
export type {
  OidcBackChannelOptions,
  OidcClientRegistration,
  OidcFrontChannelOptions,
  OidcLogoutModuleOptions,
  OidcLogoutRoutes,
} from './interfaces/oidc-logout-module-options.interface';
export type { OidcLogoutCriteria, OidcSessionInfo } from './interfaces/oidc-session-info.interface';
export type { RecordLoginOptions, RevokeTarget } from './interfaces/revoke-target.interface';
export { LogoutService } from './services/logout.service';
export type { SessionRequest } from './services/request-session';
export { OidcSessionGuard } from './guards/oidc-session.guard';
export { SkipOidcSession } from './guards/skip-oidc-session.decorator';
export { OidcSessionRepository } from './repositories/oidc-session.repository';
export {
  InMemoryOidcSessionRepository,
  type InMemoryOidcSessionRepositoryOptions,
} from './repositories/in-memory-oidc-session.repository';
export { TypeOrmOidcSessionRepository } from './repositories/typeorm/typeorm-oidc-session.repository';
export { OidcSessionEntity } from './repositories/typeorm/oidc-session.entity';
export {
  CreateOidcSessionsTable1763700000000,
  OIDC_LOGOUT_MIGRATIONS,
} from './repositories/typeorm/create-oidc-sessions-table.migration';
export { hashSessionId } from './repositories/session-id-hash';
export {
  OidcLogoutError,
  OidcLogoutOptionsError,
  OidcSessionRepositoryError,
  type OidcLogoutErrorCode,
} from './errors/oidc-logout.error';
