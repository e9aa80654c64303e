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
import { CheckedLogoutEventStore } from '../logout-events/checked-logout-event-store';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';

/**
 * Deletes expired session records and logout events every `cleanupIntervalSeconds`, through the
 * internal hook of the library's own stores (a custom store expires its own entries). Expired
 * entries are never honoured anyway; this only keeps the stores from growing. The timer does not
 * keep the process alive.
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
    private readonly events: CheckedLogoutEventStore,
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

  /** Runs one cleanup now (never two at once); resolves to the number of entries deleted. */
  cleanup(now = new Date()): Promise<number> {
    this.running ??= Promise.all([
      this.repository.expireEntries(now),
      this.events.expireEntries(now),
    ])
      .then(([records, events]) => records + events)
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
