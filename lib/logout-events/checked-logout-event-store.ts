import {
  ignoreAnswer,
  ownArguments,
  StoreBoundary,
  type StoreBoundaryOptions,
} from '../repositories/store-boundary';
import {
  assertLogoutEventBegin,
  assertLogoutEventKey,
  type OidcLogoutEventBegin,
  type OidcLogoutEventOutcome,
  type OidcLogoutEventStore,
} from './oidc-logout-event.store';

/**
 * The logout-event store as the library talks to it: the app's {@link OidcLogoutEventStore} behind
 * the same checkpoint as the session repository (see `StoreBoundary`). The library's own arguments
 * are checked before the store is asked (a `TypeError`, never taken for an outage); every answer is
 * checked, and one that is not what the contract says (an outcome that is neither `'apply'` nor
 * `'replay'`, tombstones that are not a `Map` of the keys asked to numbers) is a store failure:
 * the logout is kept pending, never taken as applied or as a replay. Every call is bounded by
 * `storeTimeoutMs`.
 *
 * @internal
 */
export class CheckedLogoutEventStore extends StoreBoundary<OidcLogoutEventStore> {
  constructor(raw: OidcLogoutEventStore, options: StoreBoundaryOptions) {
    super(
      raw,
      options,
      'logout-event store',
      "the logout-event store must answer as OidcLogoutEventStore documents ('apply' or 'replay', a Map of tombstones); the library fails closed meanwhile",
    );
  }

  /** Claims and tombstones a logout at once: `'replay'` only for a claim already applied. */
  begin(event: OidcLogoutEventBegin): Promise<OidcLogoutEventOutcome> {
    const refused = ownArguments(() => assertLogoutEventBegin(event));
    if (refused) return refused;
    return this.call(
      'begin',
      (store) => store.begin(event),
      (answer) => {
        if (answer !== 'apply' && answer !== 'replay') {
          throw this.malformed('begin', "neither 'apply' nor 'replay'");
        }
        return answer;
      },
    );
  }

  /**
   * Marks a claim applied. A claim left claimed (the wait timed out, the store failed) is applied
   * again by the retry or the OP's next delivery: nothing to give back.
   */
  complete(claimKey: string): Promise<void> {
    const refused = ownArguments(() => assertLogoutEventKey(claimKey));
    if (refused) return refused;
    return this.call('complete', (store) => store.complete(claimKey), ignoreAnswer);
  }

  findTombstones(keys: readonly string[]): Promise<Map<string, number>> {
    const refused = ownArguments(() => keys.forEach((key) => assertLogoutEventKey(key)));
    if (refused) return refused;
    return this.call(
      'findTombstones',
      (store) => store.findTombstones(keys),
      (answer) => {
        if (!(answer instanceof Map)) throw this.malformed('findTombstones', 'not a Map');
        for (const [key, issuedAt] of answer as Map<unknown, unknown>) {
          if (typeof key !== 'string' || !keys.includes(key)) {
            throw this.malformed('findTombstones', 'a key that was not asked');
          }
          if (typeof issuedAt !== 'number' || !Number.isFinite(issuedAt)) {
            throw this.malformed('findTombstones', 'an issuedAt that is not a number');
          }
        }
        return answer as Map<string, number>;
      },
    );
  }
}
