import { Logger } from '@nestjs/common';
import { OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import { hashSid } from '../repositories/session-id-hash';

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
  now?: () => number;
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
 *   session it could end has expired (`sessionTtlSeconds` after it arrived). Not until the logout
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
 * - **In memory.** A process that stops while logouts are pending loses them (logged at shutdown):
 *   that is why the back-channel endpoint still answers 400 for a kept logout, so that an OP that
 *   retries delivers it again.
 * - A `sub`-only logout applied late also ends logins of that user recorded between the store's
 *   return and the retry (it removes every session of the user, as when it arrives): fail-safe.
 * - Logs carry the registration and counts, never a `sid`, `sub`, `jti` or session id.
 *
 * @internal
 */
export class PendingLogouts {
  private readonly logger = new Logger('OidcLogout');
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
  }

  /** How many operations are pending. */
  get size(): number {
    return this.entries.size;
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
    this.entries.set(key, { key, operation, since: this.now(), keepUntil, attempts: 0 });
    this.logger.warn({
      event: 'oidc_pending_logout_kept',
      ...describe(operation),
      pending: this.entries.size,
    });
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

  /** Stops retrying; returns how many operations were still pending (they are lost). */
  close(): number {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const lost = this.entries.size;
    if (lost > 0) {
      this.logger.error({ event: 'oidc_pending_logout_lost', reason: 'shutdown', pending: lost });
    }
    this.entries.clear();
    return lost;
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
      this.logger.error({
        event: 'oidc_pending_logout_dropped',
        reason: 'expired',
        ...describe(entry.operation),
        attempts: entry.attempts,
      });
    }
  }
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
