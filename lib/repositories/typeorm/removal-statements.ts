import type { OidcLogoutCriteria } from '../../interfaces/oidc-session-info.interface';
import type { RawSessionRow, RemovalShape } from './direct-sql';
import { settleBatch, StatementBatcher, type StatementBatchLimits } from './statement-batcher';

/** Runs one statement and answers the rows it returns (`SELECT`, or `RETURNING`). */
export type RunStatement = <T>(sql: string, parameters: unknown[]) => Promise<T[]>;

/**
 * A logout's removal: its shape and its values (issuer, client id, then sid and/or sub, then, for a
 * removal that completes a claim, the claim's stored key).
 */
export interface Removal {
  shape: RemovalShape;
  values: readonly string[];
}

/** The direct removal of a logout's criteria: by sid, by sub, or by both. */
export function removalOf({ issuer, clientId, sid, sub }: OidcLogoutCriteria): Removal {
  if (!sid) return { shape: 'sub', values: [issuer, clientId, sub as string] };
  return sub
    ? { shape: 'sidAndSub', values: [issuer, clientId, sid, sub] }
    : { shape: 'sid', values: [issuer, clientId, sid] };
}

/** The statements of one kind of removal, single and over arrays (`undefined`: no batching). */
export interface RemovalSql {
  single: Record<RemovalShape, string>;
  batch?: Record<RemovalShape, string>;
}

/**
 * A logout's removals as single statements, batched where the database takes arrays: concurrent
 * removals of one shape share one statement, and each deleted row goes to the first call that
 * names it, as if the calls had run in order. A batch whose statement fails runs again call by
 * call. Run again after it committed (its answer lost), a removal finds nothing more.
 *
 * @internal
 */
export class RemovalStatements {
  private readonly batchers?: Record<RemovalShape, StatementBatcher<Removal, RawSessionRow[]>>;

  constructor(
    private readonly sql: RemovalSql,
    private readonly query: RunStatement,
    /** Whether a statement that failed with `error` on its `attempt`-th run (1-based) runs again. */
    private readonly shouldRetry: (error: unknown, attempt: number) => boolean,
    limits: StatementBatchLimits | false,
  ) {
    const batch = sql.batch;
    if (!batch || limits === false || limits.maxSize < 2) return;
    const batcher = (shape: RemovalShape) =>
      new StatementBatcher<Removal, RawSessionRow[]>(
        (inputs) =>
          settleBatch(
            inputs,
            (input) => this.removeOne(input),
            (all) => this.removeMany(batch[shape], all),
          ),
        limits,
      );
    this.batchers = { sid: batcher('sid'), sub: batcher('sub'), sidAndSub: batcher('sidAndSub') };
  }

  /** Deletes the rows a logout names; answers them (expired ones included). */
  remove(removal: Removal): Promise<RawSessionRow[]> {
    return this.batchers ? this.batchers[removal.shape].run(removal) : this.removeOne(removal);
  }

  private removeOne({ shape, values }: Removal): Promise<RawSessionRow[]> {
    return this.query<RawSessionRow>(this.sql.single[shape], [...values]);
  }

  /** Each deleted row goes to the first call it matches, as if the calls had run in order. */
  private async removeMany(
    statement: string,
    inputs: readonly Removal[],
  ): Promise<RawSessionRow[][]> {
    const width = inputs[0]?.values.length ?? 0;
    const columns = Array.from({ length: width }, (_, i) => inputs.map((input) => input.values[i]));
    const rows = await this.retried(() => this.query<RawSessionRow>(statement, columns));
    const results = inputs.map((): RawSessionRow[] => []);
    for (const row of rows) {
      const index = inputs.findIndex((input) => matches(row, input));
      if (index >= 0) results[index]?.push(row);
    }
    return results;
  }

  /** Runs `statement` again while `shouldRetry` says so (a deadlock, a serialization failure). */
  private async retried<T>(statement: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await statement();
      } catch (error) {
        if (this.shouldRetry(error, attempt)) continue;
        throw error;
      }
    }
  }
}

/** Whether `row` is one that `removal` names (exact comparison). */
function matches(row: RawSessionRow, { shape, values }: Removal): boolean {
  if (row.issuer !== values[0] || row.client_id !== values[1]) return false;
  if (shape === 'sid') return row.sid === values[2];
  if (shape === 'sub') return row.sub === values[2];
  return row.sid === values[2] && row.sub === values[3];
}
