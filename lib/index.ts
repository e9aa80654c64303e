/**
 * nest-oidc-logout: OpenID Connect single sign-out for NestJS.
 *
 * The root entry holds what an application uses every day; it loads neither `typeorm` nor passport.
 * The TypeORM store is in `nest-oidc-logout/typeorm`, the login in `nest-oidc-logout/passport`.
 * Deep imports are not supported.
 *
 * @packageDocumentation
 */
export { OidcLogoutModule } from './oidc-logout.module';
export type {
  OidcBackChannelOptions,
  OidcClientRegistration,
  OidcFrontChannelOptions,
  OidcLogoutModuleOptions,
  OidcLogoutRoutes,
} from './interfaces/oidc-logout-module-options.interface';
export { LogoutService } from './services/logout.service';
export type { RecordLoginOptions, RevokeTarget } from './interfaces/revoke-target.interface';
export type {
  OidcEndSessionUrlOptions,
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
export { OidcSessionGuard } from './guards/oidc-session.guard';
export { SkipOidcSession } from './guards/skip-oidc-session.decorator';
export type { SessionRequest } from './services/request-session';
export type { OidcLogoutCriteria, OidcSessionInfo } from './interfaces/oidc-session-info.interface';
export { OidcSessionRepository } from './repositories/oidc-session.repository';
export { InMemoryOidcSessionRepository } from './repositories/in-memory-oidc-session.repository';
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
  OidcLogoutError,
  OidcLogoutOptionsError,
  OidcSessionRepositoryError,
  type OidcLogoutErrorCode,
} from './errors/oidc-logout.error';
export { LogoutTokenError } from './tokens/logout-token.error';
