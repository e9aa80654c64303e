import {
  Inject,
  Module,
  RequestMethod,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { logoutRoutes } from './controllers/logout-routes';
import { OidcSessionGuard } from './guards/oidc-session.guard';
import { SessionIdFollower } from './login/session-id-follower';
import { SessionIdFollowerMiddleware } from './login/session-id-follower.middleware';
import {
  ConfigurableModuleClass,
  OIDC_LOGOUT_MODULE_OPTIONS,
  OIDC_LOGOUT_RESOLVED_OPTIONS,
} from './oidc-logout.module-definition';
import type { ResolvedOidcLogoutOptions } from './options/resolved-oidc-logout-options';
import { validateOidcLogoutOptions } from './options/validate-oidc-logout-options';
import {
  checkedSessionRepositoryProvider,
  oidcSessionRepositoryProvider,
} from './repositories/oidc-session-repository.provider';
import { OidcSessionRepository } from './repositories/oidc-session.repository';
import { BackChannelLogoutService } from './services/back-channel-logout.service';
import { LogoutService } from './services/logout.service';
import { OidcDiscoveryService } from './services/oidc-discovery.service';
import { OidcSessionCleanupService } from './services/oidc-session-cleanup.service';

/**
 * OpenID Connect single sign-out for a Nest application: back-channel, front-channel and
 * RP-initiated logout over one shared session-correlation repository, and a guard that rejects the
 * sessions they end.
 *
 * ```ts
 * OidcLogoutModule.forRoot({
 *   clients: [{ registrationId: 'keycloak', issuer: 'https://sso.example.com/realms/main', clientId: 'portal' }],
 * })
 * ```
 * or `forRootAsync({ imports, inject, useFactory })` / `useClass`; `isGlobal: true` to use the guard
 * and `LogoutService` everywhere.
 *
 * @publicApi
 */
@Module({
  providers: [
    {
      provide: OIDC_LOGOUT_RESOLVED_OPTIONS,
      inject: [OIDC_LOGOUT_MODULE_OPTIONS],
      useFactory: validateOidcLogoutOptions,
    },
    oidcSessionRepositoryProvider,
    checkedSessionRepositoryProvider,
    OidcDiscoveryService,
    OidcSessionCleanupService,
    LogoutService,
    BackChannelLogoutService,
    OidcSessionGuard,
    SessionIdFollower,
  ],
  exports: [
    LogoutService,
    BackChannelLogoutService,
    OidcSessionGuard,
    OidcSessionRepository,
    // For the login strategy and guard (lib/login), declared in the application's modules.
    OidcDiscoveryService,
    SessionIdFollower,
    OIDC_LOGOUT_RESOLVED_OPTIONS,
  ],
})
export class OidcLogoutModule extends ConfigurableModuleClass implements NestModule {
  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS)
    private readonly resolvedOptions: ResolvedOidcLogoutOptions,
  ) {
    super();
  }

  /**
   * Binds the logout endpoints at the configured paths, and on every route the session-id follower
   * (a login record follows `req.session.regenerate()`).
   */
  configure(consumer: MiddlewareConsumer): void {
    // '{*path}': every path, '/' included, in the path-to-regexp 8 syntax of NestJS 11 and 12.
    consumer
      .apply(SessionIdFollowerMiddleware)
      .forRoutes({ path: '{*path}', method: RequestMethod.ALL });
    for (const route of logoutRoutes(this.resolvedOptions)) {
      consumer.apply(route.handler).forRoutes({ path: route.path, method: route.method });
    }
  }
}
