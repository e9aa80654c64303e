import type { DataSource, EntityManager, EntityTarget } from 'typeorm';
import { OidcSessionRepositoryError } from '../../errors/oidc-logout.error';
import { type PostgresPreparedStatements, preparedStatementsOf } from './prepared-statements';

/** Drivers with one shared connection: a transaction would absorb concurrent callers' queries. */
export const SINGLE_CONNECTION_DRIVERS = new Set([
  'better-sqlite3',
  'sqljs',
  'capacitor',
  'cordova',
  'expo',
  'nativescript',
  'react-native',
]);
/** Drivers on which `SELECT ... FOR UPDATE` (TypeORM's `pessimistic_write`) is used. */
export const ROW_LOCK_DRIVERS = new Set([
  'postgres',
  'aurora-postgres',
  'cockroachdb',
  'mysql',
  'mariadb',
  'aurora-mysql',
  'mssql',
  'oracle',
]);
/** How long a store on a single connection waits for a transaction of the app's to end. */
export const APP_TRANSACTION_WAIT_MS = 30_000;
/** InnoDB takes gap locks under REPEATABLE READ; READ COMMITTED locks only the matching rows. */
export const READ_COMMITTED_DRIVERS = new Set(['mysql', 'mariadb', 'aurora-mysql']);
/** Deadlock / serialization failure codes (MySQL/MariaDB, PostgreSQL): the transaction is retried. */
export const RETRYABLE_CODES = new Set(['ER_LOCK_DEADLOCK', '40P01', '40001']);
/** Unique-constraint violation codes: PostgreSQL, MySQL/MariaDB, SQLite (better-sqlite3, sqlite3). */
export const UNIQUE_VIOLATION_CODES = new Set([
  '23505',
  'ER_DUP_ENTRY',
  'SQLITE_CONSTRAINT_PRIMARYKEY',
  'SQLITE_CONSTRAINT_UNIQUE',
  'SQLITE_CONSTRAINT',
]);
/** Drivers with `INSERT ... ON CONFLICT (...) DO UPDATE` (PostgreSQL 9.5+, SQLite 3.24+). */
export const ON_CONFLICT_DRIVERS = new Set([
  'postgres',
  'aurora-postgres',
  'cockroachdb',
  'better-sqlite3',
  'sqlite',
  'sqljs',
]);
/** Drivers with `INSERT ... ON DUPLICATE KEY UPDATE`. */
export const ON_DUPLICATE_KEY_DRIVERS = new Set(['mysql', 'mariadb', 'aurora-mysql']);
/**
 * Drivers whose hot paths (the guard's lookup, logouts, claims, tombstones) run as SQL built once
 * per repository with bound parameters: one statement each (`DELETE ... RETURNING`,
 * `INSERT ... ON CONFLICT ... RETURNING`), no query builder, and a constant SQL text that the driver
 * prepares once (better-sqlite3's statement cache). Both compare strings exactly, as the other
 * drivers' paths do in JavaScript.
 */
export const DIRECT_SQL_DRIVERS = new Set(['postgres', 'better-sqlite3']);
/** Drivers whose hot paths batch concurrent calls into one statement over arrays (`unnest`). */
export const BATCH_DRIVERS = new Set(['postgres']);
/** Drivers whose guard lookup (find) also reads whether the server refuses writes. */
export const READ_ONLY_PROBE_DRIVERS = new Set(['mysql', 'mariadb']);
/** Drivers whose hot-path statements run as named prepared statements (node-postgres). */
export const PREPARED_STATEMENT_DRIVERS = new Set(['postgres']);
/** Drivers on which a removal can complete a claim in the same statement (`WITH ... UPDATE`). */
export const COMPLETING_DRIVERS = new Set(['postgres']);
/** Drivers with LISTEN/NOTIFY, for `lookupCache` and `notifyRemovals`. */
export const NOTIFY_DRIVERS = new Set(['postgres']);
/** Attempts of a statement or transaction that deadlocks or fails to serialize. */
export const MAX_ATTEMPTS = 3;

/** A record the columns cannot hold; the message names the field, never its value. @internal */
export class InvalidRecordError extends Error {}

/** A claim that lost every attempt to concurrent changes of its row. @internal */
export class ContentionError extends Error {}

/** The queue tail of each single-connection DataSource, shared by the stores on it. */
const queueTails = new WeakMap<DataSource, Promise<unknown>>();

/**
 * How the TypeORM stores talk to their DataSource: a store failure is an
 * `OidcSessionRepositoryError` without the query's values, work on single-connection drivers runs
 * one at a time (per DataSource, whichever store asks), transactions are retried on deadlocks.
 *
 * @internal
 */
export class TypeOrmRunner {
  /** PostgreSQL: the hot-path statements run prepared (see {@link PostgresPreparedStatements}). */
  private readonly prepared: PostgresPreparedStatements | undefined;

  constructor(
    readonly dataSource: DataSource,
    /** The store, for the messages ("OIDC session repository", "OIDC logout-event store"). */
    private readonly storeName: string,
    /** PostgreSQL: whether the hot-path statements run prepared (default `true`). */
    { preparedStatements = true }: { preparedStatements?: boolean } = {},
  ) {
    if (preparedStatements && PREPARED_STATEMENT_DRIVERS.has(this.driverType)) {
      this.prepared = preparedStatementsOf(dataSource);
    }
  }

  get driverType(): string {
    return String(this.dataSource.options.type);
  }

  /** Runs `work` on the DataSource's manager, serialized on single-connection drivers. */
  run<T>(operation: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.assertReady(operation);
      try {
        return await work(this.dataSource.manager);
      } catch (error) {
        throw this.wrap(operation, error);
      }
    });
  }

  /** Runs `work` in a transaction, retried on deadlock, serialized on single-connection drivers. */
  runInTransaction<T>(
    operation: string,
    work: (manager: EntityManager) => Promise<T>,
    { retryUniqueViolation = false }: { retryUniqueViolation?: boolean } = {},
  ): Promise<T> {
    return this.exclusive(async () => {
      this.assertReady(operation);
      const isolation = READ_COMMITTED_DRIVERS.has(this.driverType)
        ? ('READ COMMITTED' as const)
        : undefined;
      for (let attempt = 1; ; attempt++) {
        try {
          return isolation
            ? await this.dataSource.transaction(isolation, work)
            : await this.dataSource.transaction(work);
        } catch (error) {
          const retry = isRetryable(error) || (retryUniqueViolation && isUniqueViolation(error));
          if (attempt < MAX_ATTEMPTS && retry) continue;
          throw this.wrap(operation, error);
        }
      }
    });
  }

  /** `SELECT ... FOR UPDATE` where the driver has it. */
  lockRows<Q extends { setLock(mode: 'pessimistic_write'): Q }>(query: Q): Q {
    return ROW_LOCK_DRIVERS.has(this.driverType) ? query.setLock('pessimistic_write') : query;
  }

  /** The rows a statement returns (`RETURNING`), whatever the statement and the driver. */
  async records<T = unknown>(sql: string, parameters: unknown[]): Promise<T[]> {
    const result = await this.structured<{ records?: T[] }>(sql, parameters);
    return result.records ?? [];
  }

  /**
   * The driver's structured result of one statement (`records`, `raw`, `affected`); `sql` is one
   * of the statements a store builds once (on PostgreSQL, prepared on each connection).
   */
  async structured<R>(sql: string, parameters: unknown[]): Promise<R> {
    const runner = this.dataSource.createQueryRunner();
    try {
      if (this.prepared) return (await this.prepared.run(runner, sql, parameters)) as R;
      return (await runner.query(sql, parameters, true)) as R;
    } finally {
      await runner.release();
    }
  }

  /** The escaped (schema-qualified) table name of an entity. */
  tableName(entity: EntityTarget<unknown>): string {
    return this.dataSource
      .getMetadata(entity)
      .tablePath.split('.')
      .map((part) => this.dataSource.driver.escape(part))
      .join('.');
  }

  /** A store failure as the store reports it: no session id or token in the message. */
  wrap(operation: string, error: unknown): OidcSessionRepositoryError {
    if (error instanceof OidcSessionRepositoryError) return error;
    if (error instanceof InvalidRecordError || error instanceof ContentionError) {
      // Our own validation: its message names the field, never the value.
      return new OidcSessionRepositoryError(
        `${this.storeName} could not ${operation}: ${error.message}`,
        { cause: error },
      );
    }
    return new OidcSessionRepositoryError(
      `${this.storeName} could not ${operation} (${describeError(error)})`,
      { cause: withoutQueryParameters(error) },
    );
  }

  /**
   * On a single connection (better-sqlite3), waits until no transaction the app opened on it is
   * open: run inside it, the library's writes would be undone by the app's rollback (a logout
   * answered 200 undone). Bounded: past {@link APP_TRANSACTION_WAIT_MS} it fails (the callers gave
   * up after `storeTimeoutMs` already: the store counted as down, the logout was kept).
   */
  private async outsideAppTransaction(): Promise<void> {
    const connection = (
      this.dataSource.driver as { databaseConnection?: { inTransaction?: unknown } }
    ).databaseConnection;
    const deadline = Date.now() + APP_TRANSACTION_WAIT_MS;
    while (connection?.inTransaction === true) {
      if (Date.now() >= deadline) {
        throw new OidcSessionRepositoryError(
          `${this.storeName} could not run: a transaction of the app's stayed open on the single ` +
            `SQLite connection for ${APP_TRANSACTION_WAIT_MS} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Fails when the DataSource is not (or no longer) initialized. */
  assertReady(operation: string): void {
    if (!this.dataSource.isInitialized) {
      throw new OidcSessionRepositoryError(
        `${this.storeName} could not ${operation}: its TypeORM DataSource is not initialized ` +
          '(or was destroyed)',
      );
    }
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    if (!SINGLE_CONNECTION_DRIVERS.has(this.driverType)) return task();
    const tail = queueTails.get(this.dataSource) ?? Promise.resolve();
    const run = () => this.outsideAppTransaction().then(task);
    const result = tail.then(run, run);
    queueTails.set(
      this.dataSource,
      result.catch(() => undefined),
    );
    return result;
  }
}

/**
 * The driver error to keep as `cause`, without TypeORM's `query` and `parameters`: those quote the
 * values written (ID tokens), and a cause is often logged whole.
 */
export function withoutQueryParameters(error: unknown): unknown {
  if (!(error instanceof Error) || !('parameters' in error || 'query' in error)) return error;
  const copy = new Error(error.message);
  copy.name = error.name;
  const code = errorCode(error);
  if (code !== undefined) Object.assign(copy, { code });
  return copy;
}

/** The error's class and code: never its message, which may quote values (session ids, tokens). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const code = errorCode(error);
  return code ? `${error.name}, code ${code}` : error.name;
}

export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, driverError } = error as { code?: unknown; driverError?: unknown };
  if (typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code)) return code;
  return driverError && driverError !== error ? errorCode(driverError) : undefined;
}

export function isRetryable(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && RETRYABLE_CODES.has(code);
}

export function isUniqueViolation(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && UNIQUE_VIOLATION_CODES.has(code);
}
