import { Logger } from '@nestjs/common';
import { OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import { unwatchExit, watchExit, type ExitWatcher } from './pending-logout-exit';
import {
  describeOperation,
  operationEnds,
  type PendingEntry,
  type PendingOperation,
} from './pending-operation';
import { PendingOperationJournal } from './pending-operation-journal';
import {
  PENDING_LOGOUT_FIRST_RETRY_MS,
  PENDING_LOGOUT_MAX_ENTRIES,
  PENDING_LOGOUT_MAX_RETRY_MS,
  PENDING_LOGOUT_REPORT_MS,
  type PendingLogoutsOptions,
} from './pending-logouts.options';

/**
 * A small, bounded, in-process queue of operations the session store refused because it was
 * unavailable: verified back-channel logouts (and the removal of login records that
 * `recordLogin` could not finish). Nothing a caller merely sent gets here: a logout token is
 * queued only after its signature and claims were verified completely.
 *
 * - **Kept until applied.** Retried in the background, after 250 ms and then with a doubling pause
 *   capped at {@link PENDING_LOGOUT_MAX_RETRY_MS}, until the store takes it (the usual
 *   `applyLogout`: replay claim, tombstone, removal, `onRevocation` listeners) or until every
 *   session it could end has expired (`sessionTtlSeconds`, or the longest session cookie `maxAge`
 *   a login recorded here had, after it arrived). Not until the logout token's `exp`: `exp` bounds
 *   when a token may be accepted, and this one was; the logout it carries stays true after that.
 *   A successful read of the store (any guarded request) starts a pass at once, so the queue
 *   drains as soon as the store answers.
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
  private readonly journal: PendingOperationJournal | undefined;
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
      options.journal === undefined ? undefined : new PendingOperationJournal(options.journal);
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
    for (const entry of this.journal.restore(this.options.registrations)) {
      this.entries.set(entry.key, entry);
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
          ...describeOperation(operation),
          pending: this.entries.size,
        });
        return false;
      }
    }
    const entry: PendingEntry = { key, operation, since: this.now(), keepUntil, attempts: 0 };
    this.entries.set(key, entry);
    const journaled = this.journal?.add(entry) ?? false;
    this.logger.warn({
      event: 'oidc_pending_logout_kept',
      ...describeOperation(operation),
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
      if (operationEnds(operation, info)) return true;
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
            ...describeOperation(entry.operation),
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
        ...describeOperation(entry.operation),
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
    this.journal?.settled(key, this.entries.size === 0);
    if (this.entries.size === 0) unwatchExit(this);
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
        ...describeOperation(entry.operation),
        attempts: entry.attempts,
      });
    }
  }
}
