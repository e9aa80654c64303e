import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { PendingOperation } from './pending-operation';

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

/** Options of {@link PendingLogouts} (the defaults: the constants above). @internal */
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
