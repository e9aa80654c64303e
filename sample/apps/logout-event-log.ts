import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { LogoutService, type OidcLogoutChannel, type OidcRevocationEvent } from '../../lib';
import { SAMPLE_APP_SETTINGS, type SampleAppSettings } from './sample-app.settings';

/** One logout the app received, as its pages show it. */
export interface LogoutEventEntry {
  at: Date;
  channel: OidcLogoutChannel;
  sub?: string;
  sid?: string;
  /** How many of this app's sessions it ended (0: none was left, still a successful logout). */
  sessionsEnded: number;
  revokeOfflineAccess: boolean;
}

/** The last logouts this app received (in memory, newest first), from `LogoutService.onRevocation`. */
@Injectable()
export class LogoutEventLog implements OnModuleInit, OnModuleDestroy {
  static readonly LIMIT = 20;
  private readonly entries: LogoutEventEntry[] = [];
  private unsubscribe?: () => void;

  constructor(
    private readonly logoutService: LogoutService,
    @Inject(SAMPLE_APP_SETTINGS) private readonly settings: SampleAppSettings,
  ) {}

  onModuleInit(): void {
    this.unsubscribe = this.logoutService.onRevocation((event) => this.add(event));
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
  }

  list(): readonly LogoutEventEntry[] {
    return this.entries;
  }

  private add(event: OidcRevocationEvent): void {
    const entry: LogoutEventEntry = {
      at: new Date(),
      channel: event.channel,
      sub: event.sub ?? event.sessions[0]?.sub,
      // With front-channel logout on, the sid stays private (see shownSid).
      sid: this.settings.hideSids ? undefined : (event.sid ?? event.sessions[0]?.sid),
      sessionsEnded: event.sessions.length,
      revokeOfflineAccess: event.revokeOfflineAccess,
    };
    this.entries.unshift(entry);
    this.entries.length = Math.min(this.entries.length, LogoutEventLog.LIMIT);
    this.settings.log(`[${this.settings.name}] ${describeLogout(entry)}`);
  }
}

/** One line of text for a logout, for the terminal and the pages (escape it for HTML). */
export function describeLogout(entry: LogoutEventEntry): string {
  const who = [
    entry.sub === undefined ? undefined : `user ${entry.sub}`,
    entry.sid === undefined ? undefined : `sid ${entry.sid}`,
  ].filter(Boolean);
  const ended =
    entry.sessionsEnded === 0
      ? 'no session left to end here'
      : `${entry.sessionsEnded} session${entry.sessionsEnded === 1 ? '' : 's'} ended here`;
  return (
    `${entry.channel} logout` +
    (who.length > 0 ? ` (${who.join(', ')})` : '') +
    `: ${ended}` +
    (entry.revokeOfflineAccess ? '; the OP asks to revoke offline access too' : '')
  );
}
