import { createHash } from 'node:crypto';
import { type DataSource, QueryFailedError, type QueryRunner } from 'typeorm';

/** What the stores read of a statement's result (TypeORM's structured result, in part). */
export interface StatementResult {
  records: unknown[];
  affected: number | undefined;
  raw: unknown;
}

/** The part of node-postgres' client the prepared path uses. */
interface PgClient {
  query(config: {
    name: string;
    text: string;
    values: unknown[];
  }): Promise<{ rows?: unknown[]; rowCount?: number | null }>;
}

/**
 * Whether `error` says the server's prepared statements cannot be relied on: one no longer there
 * or already there (a pooler that hands a statement to another server connection: PgBouncer in
 * transaction mode before 1.21), or one whose plan no longer fits its table (altered while the app
 * runs). The statement was refused before it ran: it runs again unnamed, and so does every later
 * one on this DataSource.
 */
function preparedStatementRefused(error: unknown): boolean {
  const { code, routine, message } = (error ?? {}) as Record<string, unknown>;
  if (code === '26000' || code === '42P05') return true;
  return (
    code === '0A000' &&
    (routine === 'RevalidateCachedQuery' ||
      String(message).includes('cached plan must not change result type'))
  );
}

/**
 * The stores' hot-path statements on PostgreSQL as named prepared statements: their SQL is built
 * once per store and run thousands of times, and the server then parses and plans each once per
 * connection instead of on every call (measured: a third to three quarters of the server's CPU per
 * statement). Run on the pool connection of a TypeORM query runner, with TypeORM's error
 * (`QueryFailedError`, its `driverError` the server's), logged by TypeORM's logger as its own are
 * (TypeORM's subscribers' `beforeQuery`/`afterQuery` do not see them). After a pooler or a schema
 * change refuses a prepared statement, every store on the DataSource runs them unnamed, as TypeORM
 * would run them. One per DataSource ({@link preparedStatementsOf}).
 *
 * @internal
 */
export class PostgresPreparedStatements {
  private readonly names = new Map<string, string>();
  private unnamed = false;

  /** Runs `sql` with `parameters` on `runner`'s connection; the result in TypeORM's shape. */
  async run(runner: QueryRunner, sql: string, parameters: unknown[]): Promise<StatementResult> {
    if (this.unnamed) return (await runner.query(sql, parameters, true)) as StatementResult;
    const client = (await runner.connect()) as PgClient;
    // TypeORM's logger sees the statement as it sees its own (an app's query log, `logging: true`).
    const logger = runner.dataSource.logger;
    logger.logQuery(sql, parameters, runner);
    let answer: Awaited<ReturnType<PgClient['query']>>;
    try {
      answer = await client.query({ name: this.nameOf(sql), text: sql, values: parameters });
    } catch (error) {
      if (!preparedStatementRefused(error)) {
        logger.logQueryError(error as Error, sql, parameters, runner);
        throw new QueryFailedError(sql, parameters, error as Error);
      }
      this.unnamed = true;
      return (await runner.query(sql, parameters, true)) as StatementResult;
    }
    // The rows, as TypeORM's `records` (its `raw` differs for UPDATE and DELETE: unused here).
    const records = answer.rows ?? [];
    return { records, affected: answer.rowCount ?? undefined, raw: records };
  }

  /** A name per SQL text: node-postgres refuses one name for two texts on a connection. */
  private nameOf(sql: string): string {
    let name = this.names.get(sql);
    if (name === undefined) {
      name = `nest_oidc_logout_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
      this.names.set(sql, name);
    }
    return name;
  }
}

const perDataSource = new WeakMap<DataSource, PostgresPreparedStatements>();

/** The prepared statements of `dataSource`, shared by the stores on it. @internal */
export function preparedStatementsOf(dataSource: DataSource): PostgresPreparedStatements {
  let prepared = perDataSource.get(dataSource);
  if (!prepared) {
    prepared = new PostgresPreparedStatements();
    perDataSource.set(dataSource, prepared);
  }
  return prepared;
}
