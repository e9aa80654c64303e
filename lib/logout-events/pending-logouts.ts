import { Logger } from '@nestjs/common';
import { OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import { hashSid } from '../repositories/session-id-hash';
import { unwatchExit, watchExit, type ExitWatcher } from './pending-logout-exit';
import { PendingLogoutJournal, type JournalEntry } from './pending-logout-journal';

/** Most operations kept while the session store is unavailable (each a few hundred bytes). */
export const PENDING_LOGOUT_MAX_ENTRIES = 1_000;
/** First pause before a pending operation is tried again; it doubles after every failed pass. */
export const PENDING_LOGOUT_FIRST_RETRY_MS = 250;
/**
 * Longest pause between two passes while the store stays down. It bounds how long after the store
 * is back a logout kept by one instance is still missing from the store, which the other instances
 * of the app read (on this instance, the guard refuses the sessions at once; see
 * {@link PendingLogouts}).
 */
export const PENDING_LOGOUT_MAX_RETRY_MS = 1_000;
/** How often a warning says that logouts are pending (count, age of the oldest), while they are. */
export const PENDING_LOGOUT_REPORT_MS = 30_000;

/**
 * The verified logout to apply (the fields of `AppliedLogout` it needs). Kept as the verifier gave
 * it: the logout token itself is not kept.
 */
export interface PendingLogoutFields {
  sid?: string;
  sub?: string;
  jti?: string;
  jtiExpiresAt?: Date;
  issuedAt?: number;
  revokeOfflineAccess?: boolean;
}

/** An operation the store could not take, kept until it can. @internal */
export type PendingOperation =
  | {
      kind: 'logout';
      registration: ResolvedClientRegistration;
      logout: PendingLogoutFields;
    }
  | {
      /** A login record whose `recordLogin` failed after it was (or may have been) saved. */
      kind: 'forget-login';
      /** Hashed, as stored. */
      clientSessionId: string;
      /** `createdAt` of that record: a later login of the same session is left alone. */
      createdAt: number;
    };

interface PendingEntry {
  readonly key: string;
  readonly operation: PendingOperation;
  /** When it was kept (epoch ms). */
  readonly since: number;
  /** After this (epoch ms) it is dropped unapplied: every session it could end has expired. */
  readonly keepUntil: number;
  attempts: number;
}

/** Options of {@link PendingLogouts}. @internal */
export interface PendingLogoutsOptions {
  /** Applies one operation; rejects while the store cannot take it. */
  apply: (operation: PendingOperation) => Promise<void>;
  maxEntries?: number;
  firstRetryMs?: number;
  maxRetryMs?: number;
  /** Pause between two `oidc_pending_logouts` warnings while operations are pending. */
  reportEveryMs?: number;
  now?: () => number;
  /** Absolute path of the journal file (`pendingLogoutJournal`); none: in memory only. */
  journal?: string;
  /** The registrations, to resolve the journal's registration ids at startup. */
  registrations?: readonly ResolvedClientRegistration[];
}

/**
 * A small, bounded, in-process queue of operations the session store refused because it was
 * unavailable: verified back-channel logouts (and the removal of login records that
 * `recordLogin` could not finish). Nothing a caller merely sent gets here: a logout token is
 * queued only after its signature and claims were verified completely.
 *
 * - **Kept until applied.** Retried in the background, after 250 ms and then with a doubling pause
 *   capped at {@link PENDING_LOGOUT_MAX_RETRY_MS}, until the store takes it (the usual
 *   `applyLogout`: replay claim, tombstone, removal, `onRevocation` listeners) or until every
 *   session it could end has expired (`sessionTtlSeconds`, or the longest session cookie `maxAge` a login recorded here had, after it arrived). Not until the logout
 *   token's `exp`: `exp` bounds when a token may be accepted, and this one was; the logout it
 *   carries stays true after that. A successful read of the store (any guarded request) starts a
 *   pass at once, so the queue drains as soon as the store answers.
 * - **Fail closed meanwhile.** While the store is down the guard answers 503 to every session. Once
 *   it answers again, the guard of this instance refuses (401) every session a kept logout names,
 *   until the queue has applied it. Other instances read only the store: they refuse those sessions
 *   once this instance has applied the logout, at most about {@link PENDING_LOGOUT_MAX_RETRY_MS}
 *   after the store is back.
 * - **Bounded.** At most {@link PENDING_LOGOUT_MAX_ENTRIES} entries; when full a new logout is not
 *   kept (the OP is told it failed, as before). A second delivery of the same token (same `jti`)
 *   is one entry.
 * - **In memory, or journaled.** Without a journal, a process that stops while logouts are pending
 *   loses them, logged (`oidc_pending_logout_lost`) on every way out: Nest's shutdown hooks, the
 *   process's `'exit'`, SIGTERM/SIGINT without a handler of the app's (see `pending-logout-exit`).
 *   That is why the back-channel endpoint still answers 400 for a kept logout, so that an OP that
 *   retries delivers it again. With `pendingLogoutJournal`, each operation is appended to a local
 *   file (fsync'd) before the caller answers, marked done when applied, and applied again after a
 *   restart ({@link PendingLogouts.start}).
 * - **Reported.** While operations are pending, a warning every {@link PENDING_LOGOUT_REPORT_MS}
 *   gives their count and the age of the oldest (`oidc_pending_logouts`); `size` and
 *   `oldestSince` tell a health check.
 * - A `sub`-only logout applied late also ends logins of that user recorded between the store's
 *   return and the retry (it removes every session of the user, as when it arrives): fail-safe.
 * - Logs carry the registration and counts, never a `sid`, `sub`, `jti` or session id.
 *
 * @internal
 */
export class PendingLogouts implements ExitWatcher {
  private readonly logger = new Logger('OidcLogout');
  private readonly journal: PendingLogoutJournal | undefined;
  private readonly reportEveryMs: number;
  private lastReport = 0;
  /** Insertion-ordered: the first is the oldest. */
  private readonly entries = new Map<string, PendingEntry>();
  private readonly maxEntries: number;
  private readonly firstRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly now: () => number;
  private delayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: PendingLogoutsOptions) {
    this.maxEntries = options.maxEntries ?? PENDING_LOGOUT_MAX_ENTRIES;
    this.firstRetryMs = options.firstRetryMs ?? PENDING_LOGOUT_FIRST_RETRY_MS;
    this.maxRetryMs = options.maxRetryMs ?? PENDING_LOGOUT_MAX_RETRY_MS;
    this.now = options.now ?? Date.now;
    this.delayMs = this.firstRetryMs;
    this.reportEveryMs = options.reportEveryMs ?? PENDING_LOGOUT_REPORT_MS;
    this.journal =
      options.journal === undefined ? undefined : new PendingLogoutJournal(options.journal);
  }

  /** How many operations are pending. */
  get size(): number {
    return this.entries.size;
  }

  /** When the oldest pending operation was kept (epoch ms), or `undefined` when none is. */
  get oldestSince(): number | undefined {
    let oldest: number | undefined;
    for (const entry of this.entries.values()) {
      if (oldest === undefined || entry.since < oldest) oldest = entry.since;
    }
    return oldest;
  }

  /**
   * Takes back the operations the journal kept from before a restart, and starts applying them.
   * Without a journal, does nothing. A journal that cannot be read is logged (the app starts).
   */
  start(): void {
    if (!this.journal || this.closed) return;
    let restored: JournalEntry[];
    try {
      restored = this.journal.load();
    } catch (error) {
      this.logger.error({
        event: 'oidc_pending_logout_journal_failed',
        action: 'read',
        error: describeError(error),
      });
      return;
    }
    const kept: JournalEntry[] = [];
    for (const stored of restored) {
      const operation = this.fromJournal(stored.operation);
      if (!operation) continue;
      this.entries.set(stored.key, {
        key: stored.key,
        operation,
        since: stored.since,
        keepUntil: stored.keepUntil,
        attempts: 0,
      });
      kept.push(stored);
    }
    try {
      this.journal.rewrite(kept);
    } catch (error) {
      this.logger.error({
        event: 'oidc_pending_logout_journal_failed',
        action: 'compact',
        error: describeError(error),
      });
    }
    if (this.entries.size === 0) return;
    this.logger.warn({
      event: 'oidc_pending_logout_restored',
      pending: this.entries.size,
    });
    watchExit(this);
    this.wake();
  }

  /**
   * Keeps an operation under `key` until `keepUntil` (epoch ms). Resolves `true` when it is kept
   * (or was already, under that key), `false` when the queue is full or closed.
   */
  add(key: string, operation: PendingOperation, keepUntil: number): boolean {
    if (this.closed) return false;
    if (this.entries.has(key)) return true;
    if (this.entries.size >= this.maxEntries) {
      this.dropExpired();
      if (this.entries.size >= this.maxEntries) {
        this.logger.error({
          event: 'oidc_pending_logout_dropped',
          reason: 'queue_full',
          ...describe(operation),
          pending: this.entries.size,
        });
        return false;
      }
    }
    const entry: PendingEntry = { key, operation, since: this.now(), keepUntil, attempts: 0 };
    this.entries.set(key, entry);
    const journaled = this.journalAdd(entry);
    this.logger.warn({
      event: 'oidc_pending_logout_kept',
      ...describe(operation),
      pending: this.entries.size,
      ...(this.journal ? { journaled } : {}),
    });
    watchExit(this);
    this.schedule();
    return true;
  }

  /** Whether a pending operation ends this login record (the guard then refuses it). */
  matches(info: OidcSessionInfo): boolean {
    for (const { operation } of this.entries.values()) {
      if (operation.kind === 'forget-login') {
        if (
          operation.clientSessionId === info.clientSessionId &&
          operation.createdAt === info.createdAt.getTime()
        ) {
          return true;
        }
        continue;
      }
      const { registration, logout } = operation;
      if (info.issuer !== registration.issuer || info.clientId !== registration.clientId) continue;
      if (logout.sid !== undefined) {
        // The record has the sid's digest; the logout, the sid the OP sent.
        const sid = hashSid(logout.sid);
        if (info.sid === sid && (logout.sub === undefined || info.sub === logout.sub)) {
          return true;
        }
      } else if (logout.sub !== undefined && info.sub === logout.sub) {
        return true;
      }
    }
    return false;
  }

  /** The store answered: try the pending operations now rather than at the next retry. */
  wake(): void {
    if (this.entries.size === 0 || this.closed || this.running) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.flush();
  }

  /**
   * One pass now (never two at once): each operation in turn, the oldest first, until one fails;
   * that one goes to the back (so that one that keeps failing cannot hold the others up) and the
   * next pass is scheduled with the current backoff.
   */
  flush(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
      this.schedule();
    });
    return this.running;
  }

  /**
   * Stops retrying; returns how many operations were still pending. Without a journal they are
   * lost (logged); with one, they stay in it for the next start.
   */
  close(reason = 'shutdown'): number {
    if (this.closed) return 0;
    this.processEnding(reason);
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const left = this.entries.size;
    this.entries.clear();
    this.journal?.close();
    unwatchExit(this);
    return left;
  }

  /** Logs what stopping now does to the pending operations (lost, or kept in the journal). */
  processEnding(reason: string): void {
    if (this.closed || this.entries.size === 0) return;
    const oldest = this.oldestSince;
    const fields = {
      reason,
      pending: this.entries.size,
      ...(oldest === undefined ? {} : { oldestAgeMs: this.now() - oldest }),
    };
    if (this.journal) {
      this.logger.warn({ event: 'oidc_pending_logout_journaled', ...fields });
    } else {
      this.logger.error({
        event: 'oidc_pending_logout_lost',
        ...fields,
        fix: 'the sessions these logouts name may pass once the store is back, until the OP delivers them again; set pendingLogoutJournal to keep them through a restart',
      });
    }
  }

  private async pass(): Promise<void> {
    this.dropExpired();
    for (const entry of [...this.entries.values()]) {
      if (this.closed) return;
      if (!this.entries.has(entry.key)) continue;
      entry.attempts += 1;
      try {
        await this.options.apply(entry.operation);
      } catch (error) {
        // Still unavailable (or this one fails): to the back, and wait before the next pass.
        if (this.entries.delete(entry.key)) this.entries.set(entry.key, entry);
        this.delayMs = Math.min(this.delayMs * 2, this.maxRetryMs);
        this.report();
        if (!(error instanceof OidcSessionRepositoryError) && entry.attempts === 1) {
          this.logger.error({
            event: 'oidc_pending_logout_retry_failed',
            ...describe(entry.operation),
            error: error instanceof Error ? error.name : typeof error,
          });
        }
        return;
      }
      this.entries.delete(entry.key);
      this.settled(entry.key);
      this.delayMs = this.firstRetryMs;
      this.logger.log({
        event: 'oidc_pending_logout_applied',
        ...describe(entry.operation),
        attempts: entry.attempts,
        delayMs: this.now() - entry.since,
        pending: this.entries.size,
      });
    }
  }

  /** A warning, at most every `reportEveryMs`, while operations are pending. */
  private report(): void {
    const now = this.now();
    if (this.entries.size === 0 || now - this.lastReport < this.reportEveryMs) return;
    this.lastReport = now;
    const oldest = this.oldestSince;
    this.logger.warn({
      event: 'oidc_pending_logouts',
      pending: this.entries.size,
      ...(oldest === undefined ? {} : { oldestAgeMs: now - oldest }),
      note: 'verified logouts the session store has not taken yet: other instances may let their sessions through until it does',
    });
  }

  /** An operation left the queue (applied or dropped): in the journal too. */
  private settled(key: string): void {
    if (this.journal) {
      try {
        if (this.entries.size === 0) this.journal.rewrite([]);
        else this.journal.done(key);
      } catch (error) {
        this.logger.error({
          event: 'oidc_pending_logout_journal_failed',
          action: 'done',
          error: describeError(error),
        });
      }
    }
    if (this.entries.size === 0) unwatchExit(this);
  }

  /** Appends a kept operation to the journal; whether it is there. */
  private journalAdd(entry: PendingEntry): boolean {
    if (!this.journal) return false;
    try {
      this.journal.added({
        key: entry.key,
        since: entry.since,
        keepUntil: entry.keepUntil,
        operation: toJournal(entry.operation),
      });
      return true;
    } catch (error) {
      this.logger.error({
        event: 'oidc_pending_logout_journal_failed',
        action: 'append',
        ...describe(entry.operation),
        error: describeError(error),
      });
      return false;
    }
  }

  /** The operation a journal line holds, or `undefined` (logged) when it cannot be applied now. */
  private fromJournal(stored: Record<string, unknown>): PendingOperation | undefined {
    if (stored.kind === 'forget-login') {
      const { clientSessionId, createdAt } = stored;
      if (typeof clientSessionId === 'string' && typeof createdAt === 'number') {
        return { kind: 'forget-login', clientSessionId, createdAt };
      }
    } else if (stored.kind === 'logout') {
      const registration = this.options.registrations?.find(
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

  private schedule(): void {
    if (this.closed || this.entries.size === 0 || this.timer || this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.delayMs);
    this.timer.unref();
  }

  private dropExpired(): void {
    const now = this.now();
    for (const entry of this.entries.values()) {
      if (entry.keepUntil > now) continue;
      this.entries.delete(entry.key);
      this.settled(entry.key);
      this.logger.error({
        event: 'oidc_pending_logout_dropped',
        reason: 'expired',
        ...describe(entry.operation),
        attempts: entry.attempts,
      });
    }
  }
}

/** An operation as a journal line holds it: plain JSON, the registration by its id. */
function toJournal(operation: PendingOperation): Record<string, unknown> {
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

/** What a log line may say about an operation: its kind and registration, no ids. */
function describe(operation: PendingOperation): Record<string, string> {
  return operation.kind === 'logout'
    ? { operation: 'logout', registrationId: operation.registration.registrationId }
    : { operation: 'forget-login' };
}

/**
 * The store was unavailable for a verified back-channel logout: it was not applied now. `queued`
 * tells whether it is kept and applied later by {@link PendingLogouts} (`false`: the queue was
 * full). Its `code` is `ERR_REPOSITORY_UNAVAILABLE`, like any store failure.
 *
 * @internal
 */
export class PendingLogoutError extends OidcSessionRepositoryError {
  constructor(
    readonly queued: boolean,
    options?: { cause?: unknown },
  ) {
    super(
      queued
        ? 'The session repository is unavailable: the verified logout is kept and applied when it is back'
        : 'The session repository is unavailable and too many logouts are pending: the logout was not applied',
      options,
    );
  }
}
