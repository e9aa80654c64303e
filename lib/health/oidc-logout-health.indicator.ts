import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import { CheckedLogoutEventStore } from '../logout-events/checked-logout-event-store';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { LogoutService } from '../services/logout.service';
import { OidcDiscoveryService } from '../services/oidc-discovery.service';
import { collectHealth, type HealthSources } from './collect-health';
import { resolveHealthOptions, type OidcLogoutHealthOptions } from './oidc-logout-health.options';

/**
 * A `@nestjs/terminus` health indicator for single sign-out: up when
 *
 * - the session store and the logout-event store each answer a lookup (of an id that cannot
 *   exist) within `timeoutMs`, through the same checks and `storeTimeoutMs` bound as every store
 *   call of the library: a store outage reports down;
 * - for each client registration, the OP's discovery metadata is fetched and its latest fetch did
 *   not fail, and its JWKS is fetched, younger than the key cache's age limit, and not failing
 *   (a check refetches missing, stale or failing keys itself, rate-limited as any refetch; one that
 *   finds everything fresh makes no request);
 * - at most `maxPendingLogouts` logouts are pending (verified, kept in memory because the store
 *   could not take them), the oldest for at most `maxPendingAgeMs`.
 *
 * The details name the parts, registrations by id, with states, times, counts and error codes:
 * never a token, a session id, a sid or a sub. Use it for readiness and monitoring rather than
 * liveness: restarting an instance loses its pending logouts (unless `pendingLogoutJournal` is set).
 *
 * Import {@link OidcLogoutHealthModule} (it brings Terminus' `HealthIndicatorService`) in the module
 * of the health controller; the indicator finds the `OidcLogoutModule` of the application
 * wherever it is imported.
 *
 * @example
 * ```ts
 * import { Controller, Get, Module } from '@nestjs/common';
 * import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
 * import { OidcLogoutHealthIndicator, OidcLogoutHealthModule } from 'nest-oidc-logout/terminus';
 *
 * @Controller('health')
 * class HealthController {
 *   constructor(
 *     private readonly health: HealthCheckService,
 *     private readonly oidcLogout: OidcLogoutHealthIndicator,
 *   ) {}
 *
 *   @Get()
 *   @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.oidcLogout.check('oidc_logout', { timeoutMs: 1_000 })]);
 *   }
 * }
 *
 * @Module({ imports: [TerminusModule, OidcLogoutHealthModule], controllers: [HealthController] })
 * export class HealthModule {}
 * ```
 *
 * @publicApi
 */
@Injectable()
export class OidcLogoutHealthIndicator implements OnModuleInit {
  private sources: HealthSources | undefined;
  private storeTimeoutMs = 0;

  /** Nest constructs it. */
  constructor(
    private readonly healthIndicatorService: HealthIndicatorService,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Finds the application's `OidcLogoutModule`, or fails the start with how to fix it. */
  onModuleInit(): void {
    this.resolveSources();
  }

  /**
   * Checks the stores, the OPs and the pending logouts (or the `checks` named), each within
   * `timeoutMs`, and answers Terminus' result under `key`: `up`, or `down` (Terminus'
   * `HealthCheckService` then answers 503). Never throws for a part that is down.
   *
   * @param key The key of the result in Terminus' answer. Default `'oidc_logout'`.
   * @throws OidcLogoutOptionsError for invalid options.
   */
  async check<const Key extends string = 'oidc_logout'>(
    key: Key = 'oidc_logout' as Key,
    options?: OidcLogoutHealthOptions,
  ): Promise<HealthIndicatorResult<Key>> {
    const sources = this.resolveSources();
    const resolved = resolveHealthOptions(options, this.storeTimeoutMs);
    const { healthy, details } = await collectHealth(sources, resolved);
    const indicator = this.healthIndicatorService.check(key);
    return healthy ? indicator.up(details) : indicator.down(details);
  }

  private resolveSources(): HealthSources {
    if (this.sources) return this.sources;
    const options = this.find<ResolvedOidcLogoutOptions>(OIDC_LOGOUT_RESOLVED_OPTIONS);
    const logoutService = this.find<LogoutService>(LogoutService);
    const discovery = this.find<OidcDiscoveryService>(OidcDiscoveryService);
    this.storeTimeoutMs = options.storeTimeoutMs;
    this.sources = {
      registrations: options.clients,
      sessions: this.find<CheckedSessionRepository>(CheckedSessionRepository),
      events: this.find<CheckedLogoutEventStore>(CheckedLogoutEventStore),
      discovery,
      pendingLogouts: () => logoutService.pendingLogouts,
    };
    return this.sources;
  }

  /** A provider of the application's `OidcLogoutModule`, wherever that module is imported. */
  private find<T>(token: string | symbol | (abstract new (...args: never[]) => unknown)): T {
    try {
      return this.moduleRef.get<unknown, T>(token, { strict: false });
    } catch {
      throw new OidcLogoutOptionsError(
        'OidcLogoutHealthIndicator needs OidcLogoutModule: import OidcLogoutModule.forRoot(...) or ' +
          'forRootAsync(...) in the application (any module of it)',
      );
    }
  }
}
