import type {
  OidcSessionInfo,
  OidcLogoutCriteria,
} from '../../interfaces/oidc-session-info.interface';
import type { CompletingRemoval, CompletionTarget } from '../joint-completion';
import { assertLogoutCriteria } from '../oidc-session.repository';
import type { RawSessionRow } from './direct-sql';
import { type Removal, removalOf, type RemovalStatements } from './removal-statements';
import { errorCode } from './typeorm-store-support';

/** Runs a removal's statement as the repository runs its own (errors, cache, expired rows). */
export type RunRemoval = (
  remove: (removal: Removal) => Promise<RawSessionRow[]>,
  removal: Removal,
) => Promise<OidcSessionInfo[]>;

/**
 * The removals of a session repository that also complete a claim (see `joint-completion.ts`),
 * their statements built once per event table. Given up for good once the database refuses their
 * shape (0A000: e.g. a DO ALSO rule on the events table, which a data-modifying `WITH` cannot
 * run): claims are then completed by statements of their own.
 *
 * @internal
 */
export class CompletingRemovals {
  private readonly byTable = new Map<string, RemovalStatements>();
  private refused = false;

  constructor(
    /** The removal statements that complete claims in `eventsTable`; `undefined`: not yet. */
    private readonly build: (eventsTable: string) => RemovalStatements | undefined,
  ) {}

  /** The completing removal on `target`, run by `run`; `undefined` when refused or not ready. */
  offer(target: CompletionTarget, run: RunRemoval): CompletingRemoval | undefined {
    if (this.refused) return undefined;
    let statements = this.byTable.get(target.table);
    if (!statements) {
      statements = this.build(target.table);
      if (!statements) return undefined;
      this.byTable.set(target.table, statements);
    }
    const removals = statements;
    return (criteria: OidcLogoutCriteria, claimKey: string) => {
      assertLogoutCriteria(criteria);
      const removal = removalOf(criteria);
      const completing = {
        ...removal,
        values: [...removal.values, target.storedClaimKey(claimKey)],
      };
      return run(async (input) => {
        try {
          return await removals.remove(input);
        } catch (error) {
          // Refused by its shape: this logout is kept, and applied without it from now on.
          if (errorCode(error) === '0A000') this.refused = true;
          throw error;
        }
      }, completing);
    };
  }
}
