import { Logger } from '@nestjs/common';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import { PendingLogoutJournal, type JournalEntry } from './pending-logout-journal';
import { describeOperation, type PendingEntry, type PendingOperation } from './pending-operation';

/**
 * The pending operations in the journal file (`pendingLogoutJournal`), for {@link PendingLogouts}:
 * each operation as plain JSON (its registration by id, dates as epoch ms), read back against the
 * registrations of this start. A file that cannot be read or written is logged
 * (`oidc_pending_logout_journal_failed`, with the action and the error's class and code), never
 * thrown: the queue goes on in memory.
 *
 * @internal
 */
export class PendingOperationJournal {
  private readonly logger = new Logger('OidcLogout');
  private readonly file: PendingLogoutJournal;

  constructor(path: string) {
    this.file = new PendingLogoutJournal(path);
  }

  /**
   * The operations kept from before a restart, the file compacted to them. An entry that cannot be
   * applied now (an unknown registration, a damaged line) is dropped, logged; a file that cannot be
   * read gives none.
   */
  restore(registrations: readonly ResolvedClientRegistration[] | undefined): PendingEntry[] {
    let stored: JournalEntry[];
    try {
      stored = this.file.load();
    } catch (error) {
      this.failed('read', error);
      return [];
    }
    const restored: PendingEntry[] = [];
    const kept: JournalEntry[] = [];
    for (const entry of stored) {
      const operation = this.decode(entry.operation, registrations);
      if (!operation) continue;
      const { key, since, keepUntil } = entry;
      restored.push({ key, operation, since, keepUntil, attempts: 0 });
      kept.push(entry);
    }
    try {
      this.file.rewrite(kept);
    } catch (error) {
      this.failed('compact', error);
    }
    return restored;
  }

  /** Appends a kept operation, durably; whether it is there. */
  add(entry: PendingEntry): boolean {
    try {
      this.file.added({
        key: entry.key,
        since: entry.since,
        keepUntil: entry.keepUntil,
        operation: encode(entry.operation),
      });
      return true;
    } catch (error) {
      this.failed('append', error, describeOperation(entry.operation));
      return false;
    }
  }

  /** The operation of `key` left the queue (applied or dropped); `empty`: it was the last one. */
  settled(key: string, empty: boolean): void {
    try {
      if (empty) this.file.rewrite([]);
      else this.file.done(key);
    } catch (error) {
      this.failed('done', error);
    }
  }

  close(): void {
    this.file.close();
  }

  /** The operation a journal line holds, or `undefined` (logged) when it cannot be applied now. */
  private decode(
    stored: Record<string, unknown>,
    registrations: readonly ResolvedClientRegistration[] | undefined,
  ): PendingOperation | undefined {
    if (stored.kind === 'forget-login') {
      const { clientSessionId, createdAt } = stored;
      if (typeof clientSessionId === 'string' && typeof createdAt === 'number') {
        return { kind: 'forget-login', clientSessionId, createdAt };
      }
    } else if (stored.kind === 'logout') {
      const registration = registrations?.find(
        (candidate) => candidate.registrationId === stored.registrationId,
      );
      const logout = stored.logout as Record<string, unknown> | undefined;
      if (registration && typeof logout === 'object' && logout !== null) {
        const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
        const number = (value: unknown) => (typeof value === 'number' ? value : undefined);
        const jtiExpiresAt = number(logout.jtiExpiresAt);
        return {
          kind: 'logout',
          registration,
          logout: {
            sid: text(logout.sid),
            sub: text(logout.sub),
            jti: text(logout.jti),
            jtiExpiresAt: jtiExpiresAt === undefined ? undefined : new Date(jtiExpiresAt),
            issuedAt: number(logout.issuedAt),
            revokeOfflineAccess: logout.revokeOfflineAccess === true,
            tellIfReplayed: logout.tellIfReplayed === true,
          },
        };
      }
    }
    this.logger.error({
      event: 'oidc_pending_logout_dropped',
      reason: 'journal_entry_unusable',
      note: 'an unknown registration (removed from the configuration?) or a damaged line',
    });
    return undefined;
  }

  private failed(action: string, error: unknown, fields: Record<string, string> = {}): void {
    this.logger.error({
      event: 'oidc_pending_logout_journal_failed',
      action,
      ...fields,
      error: describeError(error),
    });
  }
}

/** An operation as a journal line holds it: plain JSON, the registration by its id. */
function encode(operation: PendingOperation): Record<string, unknown> {
  if (operation.kind === 'forget-login') return { ...operation };
  const { logout } = operation;
  return {
    kind: 'logout',
    registrationId: operation.registration.registrationId,
    logout: { ...logout, jtiExpiresAt: logout.jtiExpiresAt?.getTime() },
  };
}

/** An error's class and code for a log line, never its message. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? `${error.name} ${code}` : error.name;
}
