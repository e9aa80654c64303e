import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { OidcLogoutHealthIndicator } from './oidc-logout-health.indicator';

/**
 * Provides and exports {@link OidcLogoutHealthIndicator}, as `TerminusModule` provides Terminus'
 * own indicators: import it next to `TerminusModule` in the module of the health controller. It
 * needs the application's `OidcLogoutModule` imported anywhere in the app (it is found there, not
 * imported again), and `@nestjs/terminus` 11 or 12 installed.
 *
 * ```ts
 * @Module({ imports: [TerminusModule, OidcLogoutHealthModule], controllers: [HealthController] })
 * export class HealthModule {}
 * ```
 *
 * @publicApi
 */
@Module({
  imports: [TerminusModule],
  providers: [OidcLogoutHealthIndicator],
  exports: [OidcLogoutHealthIndicator],
})
export class OidcLogoutHealthModule {}
