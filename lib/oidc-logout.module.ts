import {
  Inject,
  Logger,
  Module,
  RequestMethod,
  type MiddlewareConsumer,
  type NestMiddleware,
  type NestModule,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { BackChannelLogoutHandler } from './endpoints/back-channel-logout.handler';
import {
  backChannelPathMatcher,
  installExpressReadAhead,
} from './endpoints/back-channel-read-ahead';
import {
  addFastifyEndpointHook,
  markFastifyEndpoint,
  type FastifyInstanceLike,
} from './endpoints/fastify-endpoints';
import { FrontChannelLogoutHandler } from './endpoints/front-channel-logout.handler';
import { LogoutCallbackHandler } from './endpoints/logout-callback.handler';
import { globalPrefixOf, mappedRouteLines } from './endpoints/mapped-route-lines';
import { logoutRoutes } from './endpoints/logout-routes';
import { RpInitiatedLogoutHandler } from './endpoints/rp-initiated-logout.handler';
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
import {
  checkedLogoutEventStoreProvider,
  oidcLogoutEventStoreProvider,
} from './logout-events/oidc-logout-event-store.provider';
import { OidcLogoutEventStore } from './logout-events/oidc-logout-event.store';
import { BackChannelLogoutService } from './services/back-channel-logout.service';
import { LogoutService } from './services/logout.service';
import { OidcDiscoveryService } from './services/oidc-discovery.service';
import { OidcSessionCleanupService } from './services/oidc-session-cleanup.service';
import { oidcTelemetryProvider } from './telemetry/oidc-telemetry';

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
    oidcTelemetryProvider,
    oidcSessionRepositoryProvider,
    checkedSessionRepositoryProvider,
    oidcLogoutEventStoreProvider,
    checkedLogoutEventStoreProvider,
    OidcDiscoveryService,
    OidcSessionCleanupService,
    LogoutService,
    BackChannelLogoutService,
    OidcSessionGuard,
    SessionIdFollower,
    // The endpoints, also as providers: on Fastify they run from a hook (see configure).
    BackChannelLogoutHandler,
    FrontChannelLogoutHandler,
    LogoutCallbackHandler,
    RpInitiatedLogoutHandler,
  ],
  exports: [
    LogoutService,
    BackChannelLogoutService,
    OidcSessionGuard,
    OidcSessionRepository,
    OidcLogoutEventStore,
    // For the login strategy and guard (lib/login), declared in the application's modules.
    OidcDiscoveryService,
    SessionIdFollower,
    OIDC_LOGOUT_RESOLVED_OPTIONS,
  ],
})
export class OidcLogoutModule extends ConfigurableModuleClass implements NestModule {
  /** Nest constructs it (its parameters are internal types). @internal */
  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS)
    private readonly resolvedOptions: ResolvedOidcLogoutOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly moduleRef: ModuleRef,
  ) {
    super();
  }

  /**
   * Binds the logout endpoints at the configured paths, and on every route the session-id follower
   * (a login record follows `req.session.regenerate()`). On Fastify, the endpoints' middleware marks
   * the request and a hook runs the endpoint with the app's session (see `markFastifyEndpoint`).
   */
  configure(consumer: MiddlewareConsumer): void {
    const fastify = this.fastifyInstance();
    this.installReadAhead();
    // '{*path}': every path, '/' included, in the path-to-regexp 8 syntax of NestJS 11 and 12.
    consumer
      .apply(SessionIdFollowerMiddleware)
      .forRoutes({ path: '{*path}', method: RequestMethod.ALL });
    const routes = logoutRoutes(this.resolvedOptions);
    for (const route of routes) {
      consumer
        .apply(fastify ? markFastifyEndpoint(route.handler) : route.handler)
        .forRoutes({ path: route.path, method: route.method });
    }
    // Middleware routes are not in Nest's route list: say where the endpoints are, as Nest does.
    const logger = new Logger('OidcLogoutModule');
    for (const line of mappedRouteLines(routes, globalPrefixOf(this.moduleRef))) logger.log(line);
    if (fastify) {
      addFastifyEndpointHook(fastify, (endpoint: Type<NestMiddleware>) =>
        this.moduleRef.get(endpoint, { strict: true }),
      );
      new Logger('OidcLogoutModule').warn(
        'On Fastify, session id changes (request.session.regenerate()) are not followed: call ' +
          'LogoutService.recordLogin after the session id last changes, and register the session ' +
          'plugin before app.init()/listen(). The passport login strategy needs Express.',
      );
    }
  }

  /**
   * On Express, the back-channel body is read ahead of the app's global body parsers (see
   * `installExpressReadAhead`). On Fastify the endpoint runs before Fastify's parsers anyway.
   */
  private installReadAhead(): void {
    const adapter = this.adapterHost.httpAdapter as
      { getType?: () => string; getInstance?: () => unknown } | undefined;
    if (adapter?.getType?.() !== 'express') return;
    const handler = this.moduleRef.get(BackChannelLogoutHandler, { strict: true });
    const installed = installExpressReadAhead(
      adapter.getInstance?.(),
      backChannelPathMatcher(this.resolvedOptions.routes.backChannel),
      (request, response, next) => void handler.readAhead(request, response, next),
    );
    if (!installed) {
      new Logger('OidcLogoutModule').warn(
        "The back-channel endpoint could not be put ahead of the app's body parsers: their " +
          'refusals (413, 415, 400) keep their own shape there.',
      );
    }
  }

  /** The Fastify instance when the app runs on @nestjs/platform-fastify. */
  private fastifyInstance(): FastifyInstanceLike | undefined {
    const adapter = this.adapterHost.httpAdapter as
      { getType?: () => string; getInstance?: () => unknown } | undefined;
    if (adapter?.getType?.() !== 'fastify') return undefined;
    return adapter.getInstance?.() as FastifyInstanceLike | undefined;
  }
}
