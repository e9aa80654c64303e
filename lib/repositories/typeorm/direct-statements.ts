import {
  type BatchSql,
  type DirectSql,
  isReadOnlyAnswer,
  type RawSessionRow,
  READ_ONLY_COLUMN,
  ReadOnlyStoreError,
  type RemovalShape,
} from './direct-sql';
import { settleBatch, StatementBatcher, type StatementBatchLimits } from './statement-batcher';

/** Runs one statement and answers the rows it returns (`SELECT`, or `RETURNING`). */
export type RunStatement = <T>(sql: string, parameters: unknown[]) => Promise<T[]>;

/** A logout's removal: its shape and its values (issuer, client id, then sid and/or sub). */
export interface Removal {
  shape: RemovalShape;
  values: readonly string[];
}

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
  private readonly removals?: Record<RemovalShape, StatementBatcher<Removal, RawSessionRow[]>>;

  constructor(
    private readonly sql: DirectSql,
    private readonly query: RunStatement,
    /** Whether a statement that failed with `error` on its `attempt`-th run (1-based) runs again. */
    private readonly shouldRetry: (error: unknown, attempt: number) => boolean,
    limits: StatementBatchLimits | false,
  ) {
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
    const removal = (shape: RemovalShape) =>
      batcher<Removal, RawSessionRow[]>(
        (input) => this.removeOne(input),
        (inputs) => this.removeMany(batch, shape, inputs),
      );
    this.removals = { sid: removal('sid'), sub: removal('sub'), sidAndSub: removal('sidAndSub') };
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
    return this.removals ? this.removals[removal.shape].run(removal) : this.removeOne(removal);
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

  private removeOne({ shape, values }: Removal): Promise<RawSessionRow[]> {
    return this.query<RawSessionRow>(this.sql.remove[shape], [...values]);
  }

  /** Each deleted row goes to the first call it matches, as if the calls had run in order. */
  private async removeMany(
    batch: BatchSql,
    shape: RemovalShape,
    inputs: readonly Removal[],
  ): Promise<RawSessionRow[][]> {
    const width = shape === 'sidAndSub' ? 4 : 3;
    const columns = Array.from({ length: width }, (_, i) => inputs.map((input) => input.values[i]));
    const rows = await this.retried(() => this.query<RawSessionRow>(batch.remove[shape], columns));
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
