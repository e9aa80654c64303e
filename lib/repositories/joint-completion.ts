import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import type { OidcLogoutEventBegin } from '../logout-events/oidc-logout-event.store';

/**
 * The library's own stores on one database can mark a logout's claim applied in the statement that
 * removes its sessions: one round trip and one commit instead of two, and no moment at which the
 * sessions are gone while the claim still says "claimed" (PostgreSQL: a completing removal). On one
 * Redis, the whole logout is one script: claim, tombstone, removal and completion (a whole logout).
 * Both sides are internal, behind symbols: not part of either store contract, and a store of the
 * app's never has them.
 *
 * @internal
 */

/** Where a claim is completed: the event store's table on a database handle, its stored keys. @internal */
export interface CompletionTarget {
  /** The database handle (a TypeORM `DataSource`): the removal must run on the same one. */
  readonly database: object;
  /** The escaped, schema-qualified table of the logout events. */
  readonly table: string;
  /** The key a claim is stored under. */
  storedClaimKey(claimKey: string): string;
}

/** Removes the sessions a logout names and marks its claim applied, atomically. @internal */
export type CompletingRemoval = (
  criteria: OidcLogoutCriteria,
  claimKey: string,
) => Promise<OidcSessionInfo[]>;

/** A completing removal with the claim it completes, as the library passes it on. @internal */
export interface ClaimCompletion {
  remove: CompletingRemoval;
  claimKey: string;
}

/** An event store's {@link CompletionTarget}, or `undefined` when it has none. @internal */
export const COMPLETION_TARGET = Symbol('nest-oidc-logout: completion target');

/** A session repository's {@link CompletingRemoval} on a target, or `undefined`. @internal */
export const COMPLETING_REMOVAL = Symbol('nest-oidc-logout: completing removal');

/** An event store that may offer a {@link CompletionTarget}. @internal */
export interface WithCompletionTarget {
  [COMPLETION_TARGET]?(): CompletionTarget | undefined;
}

/** A session repository that may offer a {@link CompletingRemoval}. @internal */
export interface WithCompletingRemoval {
  [COMPLETING_REMOVAL]?(target: CompletionTarget): CompletingRemoval | undefined;
}

/** The completing removal two stores offer together, if they do (any store may be asked). @internal */
export function completingRemoval(sessions: object, events: object): CompletingRemoval | undefined {
  const target = (events as WithCompletionTarget)[COMPLETION_TARGET]?.();
  return target === undefined
    ? undefined
    : (sessions as WithCompletingRemoval)[COMPLETING_REMOVAL]?.(target);
}

/** What a {@link WholeLogout} answers: `'replay'` (a claim applied already: nothing done), or the sessions removed. @internal */
export type WholeLogoutOutcome = 'replay' | OidcSessionInfo[];

/**
 * Applies a logout whole, as one atomic step of the two stores: records its claim and tombstone as
 * `OidcLogoutEventStore.begin` does; unless the claim was applied already (`'replay'`), removes the
 * sessions `criteria` names and marks the claim applied. Nothing of it is seen half done: a login
 * saved meanwhile is either removed by it or finds its tombstone.
 *
 * @internal
 */
export type WholeLogout = (
  event: OidcLogoutEventBegin,
  criteria: OidcLogoutCriteria,
) => Promise<WholeLogoutOutcome>;

/** A session repository's {@link WholeLogout} with an event store, or `undefined`. @internal */
export const WHOLE_LOGOUT = Symbol('nest-oidc-logout: whole logout');

/** A session repository that may offer a {@link WholeLogout}. @internal */
export interface WithWholeLogout {
  [WHOLE_LOGOUT]?(events: object): WholeLogout | undefined;
}

/** The whole logout two stores offer together, if they do (any store may be asked). @internal */
export function wholeLogout(sessions: object, events: object): WholeLogout | undefined {
  return (sessions as WithWholeLogout)[WHOLE_LOGOUT]?.(events);
}
