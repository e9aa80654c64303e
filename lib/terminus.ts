/**
 * `nest-oidc-logout/terminus`: a `@nestjs/terminus` health indicator for single sign-out (the
 * stores, the OPs' discovery and JWKS, the pending logouts). Needs the optional peer dependency
 * `@nestjs/terminus` (11 or 12); the root entry `nest-oidc-logout` never loads it.
 *
 * @packageDocumentation
 */
export { OidcLogoutHealthIndicator } from './health/oidc-logout-health.indicator';
export { OidcLogoutHealthModule } from './health/oidc-logout-health.module';
export type {
  OidcLogoutHealthCheck,
  OidcLogoutHealthOptions,
} from './health/oidc-logout-health.options';
export type {
  OidcFetchHealth,
  OidcHealthStatus,
  OidcLogoutHealthDetails,
  OidcPendingLogoutsHealth,
  OidcProviderHealth,
  OidcStoreHealth,
} from './health/oidc-logout-health.details';
