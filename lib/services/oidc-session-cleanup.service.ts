import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';

/**
 * Deletes expired session records every `cleanupIntervalSeconds`. Expired records are never
 * honoured anyway; this only keeps the store from growing. The timer does not keep the process alive.
 *
 * @internal
 */
@Injectable()
export class OidcSessionCleanupService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('OidcLogout');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS) private readonly options: ResolvedOidcLogoutOptions,
    private readonly repository: CheckedSessionRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.cleanup(), this.options.cleanupIntervalSeconds * 1000);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Runs one cleanup now (never two at once); resolves to the number of records deleted. */
  cleanup(now = new Date()): Promise<number> {
    this.running ??= this.repository
      .removeExpired(now)
      .catch((error: unknown) => {
        const code = error instanceof OidcLogoutError ? error.code : 'unknown';
        this.logger.warn(`Expired-session cleanup failed (${code}); retrying at the next interval`);
        return 0;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}
