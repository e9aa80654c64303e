import {
  type BatchSql,
  type CompletingRemovalSql,
  type DirectSql,
  isReadOnlyAnswer,
  type RawSessionRow,
  READ_ONLY_COLUMN,
  ReadOnlyStoreError,
} from './direct-sql';
import {
  type Removal,
  type RemovalSql,
  RemovalStatements,
  type RunStatement,
} from './removal-statements';
import { settleBatch, StatementBatcher, type StatementBatchLimits } from './statement-batcher';

export type { Removal, RunStatement } from './removal-statements';

interface LiveRow {
  client_session_id: string;
  expires_at: number | string;
}

/**
 * The repository's hot paths as single statements ({@link DirectSql}), batched where the database
 * takes arrays (PostgreSQL): concurrent calls of one kind share one statement, so that under load
 * a guard lookup or a logout's removal costs a fraction of a round trip and
 * of a commit. Each call still sees the database as of a statement that started after it was made,
 * and a caller's calls still run in its order: batching changes no result.
 *
 * A batch whose statement fails is run again call by call, so that one call's failure (a value
 * the database refuses) is that call's alone. Every statement gives the same answer when it is run
 * again after it committed (its answer lost): a removal finds nothing more.
 */
export class DirectStatements {
  private readonly finds?: StatementBatcher<string, RawSessionRow | undefined>;
  private readonly existences?: StatementBatcher<string, number | undefined>;
  private readonly removals: RemovalStatements;

  constructor(
    private readonly sql: DirectSql,
    private readonly query: RunStatement,
    /** Whether a statement that failed with `error` on its `attempt`-th run (1-based) runs again. */
    private readonly shouldRetry: (error: unknown, attempt: number) => boolean,
    private readonly limits: StatementBatchLimits | false,
  ) {
    this.removals = this.removalStatements({ single: sql.remove, batch: sql.batch?.remove });
    const batch = sql.batch;
    if (!batch || limits === false || limits.maxSize < 2) return;
    const batcher = <I, O>(
      single: (input: I) => Promise<O>,
      many: (inputs: readonly I[]) => Promise<O[]>,
    ) => new StatementBatcher<I, O>((inputs) => settleBatch(inputs, single, many), limits);
    this.finds = batcher(
      (id) => this.findOne(id),
      (ids) => this.findMany(batch, ids),
    );
    this.existences = batcher(
      (id) => this.existsOne(id),
      (ids) => this.existsMany(batch, ids),
    );
  }

  /** The live row of a session id, if any. */
  find(id: string): Promise<RawSessionRow | undefined> {
    return this.finds ? this.finds.run(id) : this.findOne(id);
  }

  /** The expiry (epoch ms) of a session id's live row, if any: reads neither the ID token nor the rest. */
  liveUntil(id: string): Promise<number | undefined> {
    return this.existences ? this.existences.run(id) : this.existsOne(id);
  }

  /** Deletes the rows a logout names; answers them (expired ones included). */
  remove(removal: Removal): Promise<RawSessionRow[]> {
    return this.removals.remove(removal);
  }

  /**
   * The removals that also complete a claim (`sql`: on the event store's table), batched as the
   * others are: their values end with the claim's stored key.
   */
  completing(sql: CompletingRemovalSql): RemovalStatements {
    return this.removalStatements({ single: sql.remove, batch: sql.batch });
  }

  /** Deletes one session id; answers its row, if it was there. */
  async removeById(id: string): Promise<RawSessionRow | undefined> {
    const rows = await this.query<RawSessionRow>(this.sql.removeById, [id]);
    return rows.find((row) => row.client_session_id === id);
  }

  private async findOne(id: string): Promise<RawSessionRow | undefined> {
    const [row] = await this.liveRows<RawSessionRow>(this.sql.find, id, [id]);
    return row;
  }

  private findMany(
    batch: BatchSql,
    ids: readonly string[],
  ): Promise<(RawSessionRow | undefined)[]> {
    return this.liveRows<RawSessionRow>(batch.find, [...new Set(ids)], ids);
  }

  private async existsOne(id: string): Promise<number | undefined> {
    const [row] = await this.liveRows<LiveRow>(this.sql.exists, id, [id]);
    return row && Number(row.expires_at);
  }

  private async existsMany(
    batch: BatchSql,
    ids: readonly string[],
  ): Promise<(number | undefined)[]> {
    const rows = await this.liveRows<LiveRow>(batch.exists, [...new Set(ids)], ids);
    return rows.map((row) => row && Number(row.expires_at));
  }

  /**
   * Runs a lookup (`$1` an id, or the distinct ids of a batch; `$2` now) and answers the row of
   * each of `ids`, in order, compared exactly.
   */
  private async liveRows<T extends LiveRow>(
    sql: string,
    idParameter: string | string[],
    ids: readonly string[],
  ): Promise<(T | undefined)[]> {
    const rows = await this.query<T>(sql, [idParameter, Date.now()]);
    // With a read-only probe every lookup answers at least one row that carries it.
    if (rows.some((row) => isReadOnlyAnswer((row as Record<string, unknown>)[READ_ONLY_COLUMN]))) {
      throw new ReadOnlyStoreError();
    }
    const byId = new Map(rows.map((row) => [row.client_session_id, row]));
    return ids.map((id) => byId.get(id));
  }

  private removalStatements(sql: RemovalSql): RemovalStatements {
    return new RemovalStatements(sql, this.query, this.shouldRetry, this.limits);
  }
}
