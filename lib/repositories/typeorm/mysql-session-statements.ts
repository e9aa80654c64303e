import type { EntityManager } from 'typeorm';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../../interfaces/oidc-session-info.interface';
import {
  isReadOnlyAnswer,
  rawToInfo,
  READ_ONLY_COLUMN,
  ReadOnlyStoreError,
  SESSION_COLUMNS,
  type RawSessionRow,
} from './direct-sql';
import { OidcSessionEntity } from './oidc-session.entity';
import { errorCode, isRetryable, MAX_ATTEMPTS, type TypeOrmRunner } from './typeorm-store-support';

/** The session variable that tells a read-only transaction (MariaDB before 11.1: `tx_read_only`). */
type ReadOnlyVariable = 'transaction_read_only' | 'tx_read_only';

/**
 * The session repository's statements of its own on MySQL/MariaDB (`READ_ONLY_PROBE_DRIVERS`): the
 * guard's lookup that also reads whether the server refuses writes, and MariaDB's one-statement
 * removal (`DELETE ... RETURNING`, which MySQL has not: there a logout's removal is a locking
 * transaction through the query builder). Holds what it found out about the server.
 *
 * @internal
 */
export class MySqlSessionStatements {
  /** MariaDB: a logout's removal is one `DELETE ... RETURNING` (found out by {@link detectServer}). */
  deleteReturning = false;
  private readOnlyVariable: ReadOnlyVariable = 'transaction_read_only';

  constructor(private readonly runner: TypeOrmRunner) {}

  /** Asks the server which it is: MariaDB (whatever the driver's name) has `DELETE ... RETURNING`. */
  async detectServer(): Promise<void> {
    const [row] = await this.runner.run('check its server', (manager) =>
      manager.query<{ version?: unknown }[]>('SELECT VERSION() AS version'),
    );
    this.deleteReturning = /mariadb/i.test(String(row?.version));
  }

  /**
   * The live row of a session id, and in the same statement (no extra round trip) whether the
   * server refuses writes: `@@global.read_only` (a replica) or the session's
   * `transaction_read_only` (`tx_read_only` on MariaDB before 11.1, found out at the first lookup).
   * A read-only store rejects with {@link ReadOnlyStoreError}: logouts cannot be recorded there, so
   * no session may pass.
   */
  async find(
    manager: EntityManager,
    clientSessionId: string,
  ): Promise<OidcSessionInfo | undefined> {
    type Row = RawSessionRow & { [READ_ONLY_COLUMN]?: unknown };
    const run = () =>
      manager.query<Row[]>(this.findStatement(this.readOnlyVariable), [
        clientSessionId,
        Date.now(),
      ]);
    let rows: Row[];
    try {
      rows = await run();
    } catch (error) {
      // MariaDB before 11.1 names it tx_read_only (and MySQL 8 only transaction_read_only): the
      // first lookup finds out which, once.
      if (
        errorCode(error) !== 'ER_UNKNOWN_SYSTEM_VARIABLE' ||
        this.readOnlyVariable === 'tx_read_only'
      ) {
        throw error;
      }
      this.readOnlyVariable = 'tx_read_only';
      rows = await run();
    }
    if (rows.some((row) => isReadOnlyAnswer(row[READ_ONLY_COLUMN]))) {
      throw new ReadOnlyStoreError();
    }
    // Exact comparison: MySQL/MariaDB collations ignore case and trailing spaces.
    const row = rows.find((candidate) => candidate.client_session_id === clientSessionId);
    return row ? rawToInfo(row) : undefined;
  }

  /**
   * MariaDB: the rows a logout names, deleted and returned by one statement; answers the live ones.
   * The comparisons are exact (`BINARY`: case, accents and trailing spaces count) beside the ones
   * the indexes serve.
   */
  async removeReturning(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    const { issuer, clientId, sid, sub } = criteria;
    const q = (name: string) => this.runner.dataSource.driver.escape(name);
    const conditions: string[] = [];
    const values: string[] = [];
    for (const [column, value] of [
      ['issuer', issuer],
      ['client_id', clientId],
      ['sid', sid],
      ['sub', sub],
    ] as const) {
      if (!value) continue;
      conditions.push(`${q(column)} = ? AND BINARY ${q(column)} = BINARY ?`);
      values.push(value, value);
    }
    const columns = SESSION_COLUMNS.map(q).join(', ');
    const sql = `DELETE FROM ${this.runner.tableName(OidcSessionEntity)} WHERE ${conditions.join(' AND ')} RETURNING ${columns}`;
    let rows: RawSessionRow[];
    for (let attempt = 1; ; attempt++) {
      try {
        rows = await this.runner.records<RawSessionRow>(sql, values);
        break;
      } catch (error) {
        // A deadlock with concurrent logins (InnoDB's next-key locks): the statement runs again.
        if (attempt < MAX_ATTEMPTS && isRetryable(error)) continue;
        throw error;
      }
    }
    const now = Date.now();
    // Expired matches are deleted too, but they were already absent: not reported.
    return rows.filter((row) => Number(row.expires_at) > now).map(rawToInfo);
  }

  /** The lookup with the read-only probe, reading `variable` for the session's transactions. */
  private findStatement(variable: ReadOnlyVariable): string {
    const q = (name: string) => this.runner.dataSource.driver.escape(name);
    const columns = SESSION_COLUMNS.map((column) => `s.${q(column)}`).join(', ');
    return (
      `SELECT ${columns}, (@@global.read_only OR @@session.${variable}) AS ${READ_ONLY_COLUMN} ` +
      `FROM (SELECT 1) AS one LEFT JOIN ${this.runner.tableName(OidcSessionEntity)} AS s ` +
      `ON s.${q('client_session_id')} = ? AND s.${q('expires_at')} > ?`
    );
  }
}
