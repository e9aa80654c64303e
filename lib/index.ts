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
/** RP-Initiated Logout 1.0: the options and result of `LogoutService.logout` and `endSessionUrl`. */
export type {
  OidcEndSessionUrlOptions,
  OidcRpLogoutMethod,
  OidcRpLogoutOptions,
  OidcRpLogoutResult,
} from './interfaces/rp-initiated-logout.interface';
export {
  BackChannelLogoutService,
  type BackChannelLogoutResult,
} from './services/back-channel-logout.service';
export type { OidcRevocationListener } from './services/revocation-listeners';
export type {
  OidcLogoutChannel,
  OidcRevocationEvent,
} from './interfaces/oidc-revocation-event.interface';
export { LogoutTokenError, type LogoutTokenRejection } from './tokens/logout-token.error';
export type { VerifiedLogoutTokenClaims } from './tokens/logout-token.rules';
export type { SessionRequest } from './services/request-session';
export { OidcSessionGuard } from './guards/oidc-session.guard';
export { SkipOidcSession } from './guards/skip-oidc-session.decorator';
export { OidcSessionRepository } from './repositories/oidc-session.repository';
export {
  OidcLogoutEventStore,
  type OidcLogoutEventBegin,
  type OidcLogoutEventOutcome,
} from './logout-events/oidc-logout-event.store';
export { LogoutEventStoreFullError } from './logout-events/bounded-logout-event-store';
export {
  InMemoryOidcLogoutEventStore,
  type InMemoryOidcLogoutEventStoreOptions,
} from './logout-events/in-memory-oidc-logout-event.store';
export {
  TypeOrmOidcLogoutEventStore,
  type TypeOrmOidcLogoutEventStoreOptions,
} from './logout-events/typeorm/typeorm-oidc-logout-event.store';
export {
  InMemoryOidcSessionRepository,
  type InMemoryOidcSessionRepositoryOptions,
} from './repositories/in-memory-oidc-session.repository';
export {
  TypeOrmOidcSessionRepository,
  type TypeOrmOidcSessionRepositoryOptions,
} from './repositories/typeorm/typeorm-oidc-session.repository';
export type { StatementBatchLimits } from './repositories/typeorm/statement-batcher';
export type { SessionLookupCacheOptions } from './repositories/typeorm/session-lookup-cache';
export { OidcSessionEntity } from './repositories/typeorm/oidc-session.entity';
export { OidcLogoutEventEntity } from './repositories/typeorm/oidc-logout-event.entity';
export { OIDC_LOGOUT_ENTITIES } from './repositories/typeorm/oidc-logout-entities';
export { CreateOidcLogoutEventsTable1763800000000 } from './repositories/typeorm/create-oidc-logout-events-table.migration';
export { SidDigestsAndBinaryKeys1764000000000 } from './repositories/typeorm/sid-digests-and-binary-keys.migration';
export {
  CreateOidcSessionsTable1763700000000,
  OIDC_LOGOUT_MIGRATIONS,
} from './repositories/typeorm/create-oidc-sessions-table.migration';
export { hashSessionId, hashSid } from './repositories/session-id-hash';
export {
  OIDC_LOGOUT_ERROR_STATUS,
  OidcLogoutError,
  OidcLogoutOptionsError,
  OidcSessionRepositoryError,
  type OidcLogoutErrorBody,
  type OidcLogoutErrorCode,
} from './errors/oidc-logout.error';
// Login with @nestjs/passport + passport-openidconnect (optional peer dependencies, loaded lazily).
export { createOidcLoginStrategyProvider } from './login/oidc-login.strategy';
export { OidcLoginGuard, type OidcLoginGuardInstance } from './login/oidc-login.guard';
export type {
  OidcLogin,
  OidcLoginStrategyOptions,
  OidcLoginUser,
} from './login/oidc-login.options';
export type { OidcTokenEndpointAuthMethod } from './login/token-request';
