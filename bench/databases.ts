/**
 * The benches' databases and how they are filled.
 *
 * - PostgreSQL: the test server (`OIDC_LOGOUT_BENCH_POSTGRES_URL`, default
 *   `postgres://postgres@127.0.0.1:5432/test`), in a schema of the bench's own (`oidc_bench`, set
 *   with `search_path`), so that test runs on the same server are not disturbed.
 * - SQLite: a file in the temp directory, WAL and `synchronous = NORMAL`, as a server runs it.
 *
 * Sessions are seeded in SQL (one `INSERT ... SELECT` over a series), not through the repository:
 * 1,000,000 rows in seconds. Session _i_ has the application session id `bench-app-session-i`
 * (stored as `hashSessionId` of it, computed by the database), OP session `bench-op-session-i`
 * (stored as `hashSid` of it, as the library stores every sid) and user `bench-user-i`. An in-memory
 * repository gets the same sessions through its `save` ({@link seedMemorySessions}).
 */
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { hashSessionId, hashSid } from '../lib/repositories/session-id-hash';
import type { InMemoryOidcSessionRepository, OidcSessionInfo } from '../lib';
import { OIDC_LOGOUT_ENTITIES } from '../lib/typeorm';

export type DatabaseKind = 'sqlite' | 'postgres';

/** A schema per bench process: two benches on one machine never drop each other's tables. */
export const BENCH_SCHEMA = `oidc_bench_${process.pid}`;
export const POSTGRES_URL =
  process.env.OIDC_LOGOUT_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const sessionIdOf = (i: number): string => `bench-app-session-${i}`;
export const sidOf = (i: number): string => `bench-op-session-${i}`;
export const subOf = (i: number): string => `bench-user-${i}`;

/** What every seeded row shares. */
export interface SeedRow {
  registrationId: string;
  issuer: string;
  clientId: string;
  idToken: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * A DataSource on the bench's PostgreSQL schema or a new SQLite file in `workDir`, with the
 * library's tables created from scratch (`synchronize`).
 */
export async function createBenchDataSource(
  kind: DatabaseKind,
  workDir: string,
  name = 'sessions',
): Promise<DataSource> {
  if (kind === 'postgres') {
    const admin = new DataSource({ type: 'postgres', url: POSTGRES_URL });
    await admin.initialize();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS "${BENCH_SCHEMA}"`);
    } finally {
      await admin.destroy();
    }
  }
  const dataSource =
    kind === 'postgres'
      ? new DataSource({
          type: 'postgres',
          url: POSTGRES_URL,
          entities: OIDC_LOGOUT_ENTITIES,
          logging: false,
          // Unqualified names (TypeORM's and the bench's SQL) resolve in the bench's schema.
          extra: { options: `-c search_path=${BENCH_SCHEMA}`, max: 10 },
        })
      : new DataSource({
          type: 'better-sqlite3',
          database: join(workDir, `${name}.sqlite`),
          entities: OIDC_LOGOUT_ENTITIES,
          enableWAL: true,
          prepareDatabase: (db: { pragma(source: string): unknown }) => {
            db.pragma('synchronous = NORMAL');
            // More pragmas to try (e.g. `cache_size = -262144; mmap_size = 1073741824`).
            for (const pragma of (process.env.BENCH_SQLITE_PRAGMAS ?? '').split(';')) {
              if (pragma.trim()) db.pragma(pragma.trim());
            }
          },
          logging: false,
        });
  await dataSource.initialize();
  await dataSource.query('DROP TABLE IF EXISTS oidc_sessions');
  await dataSource.query('DROP TABLE IF EXISTS oidc_logout_events');
  await dataSource.synchronize();
  return dataSource;
}

/** Drops the bench's tables (PostgreSQL: they would hold a gigabyte) and closes the DataSource. */
export async function dropBenchDataSource(dataSource: DataSource): Promise<void> {
  if (!dataSource.isInitialized) return;
  try {
    if (dataSource.options.type === 'postgres') {
      await dataSource.query(`DROP SCHEMA IF EXISTS "${BENCH_SCHEMA}" CASCADE`);
    }
  } finally {
    await dataSource.destroy();
  }
}

/** Sessions `from` to `to - 1`, in one statement (those present already are kept). */
export async function seedSessionsSql(
  dataSource: DataSource,
  row: SeedRow,
  from: number,
  to: number,
): Promise<void> {
  if (to <= from) return;
  await insertSessionsSql(dataSource, row, { from, to });
  if (dataSource.options.type === 'postgres') await dataSource.query('ANALYZE oidc_sessions');
  else sqliteHandle(dataSource).exec('ANALYZE oidc_sessions');
}

/** Sessions `indices` again (those revoked by a measurement; those present are kept). */
export async function restoreSessionsSql(
  dataSource: DataSource,
  row: SeedRow,
  indices: readonly number[],
): Promise<void> {
  if (indices.length === 0) return;
  await insertSessionsSql(dataSource, row, { list: indices });
}

/** The seeded sessions of a range of indices or of a list, in one statement; present ones kept. */
async function insertSessionsSql(
  dataSource: DataSource,
  row: SeedRow,
  indices: { from: number; to: number } | { list: readonly number[] },
): Promise<void> {
  const values = [
    row.registrationId,
    row.issuer,
    row.clientId,
    row.idToken,
    row.expiresAt,
    row.createdAt,
  ];
  const columns =
    'client_session_id, registration_id, issuer, client_id, sid, sub, id_token, expires_at, created_at';
  const range = 'from' in indices ? indices : undefined;
  const list = 'list' in indices ? indices.list : [];
  if (dataSource.options.type === 'postgres') {
    // hashSessionId and hashSid in SQL: SHA-256, base64url without padding ('sha256:' before a sid).
    const digest = (text: string) =>
      `rtrim(translate(encode(sha256(convert_to(${text}, 'UTF8')), 'base64'), '+/', '-_'), '=')`;
    const source = range ? 'generate_series($7::int, $8::int) AS i' : 'unnest($7::int[]) AS i';
    await dataSource.query(
      `INSERT INTO oidc_sessions (${columns})
       SELECT ${digest("'bench-app-session-' || i")},
              $1, $2, $3, 'sha256:' || ${digest("'bench-op-session-' || i")}, 'bench-user-' || i, $4, $5, $6
       FROM ${source}
       ON CONFLICT DO NOTHING`,
      [...values, ...(range ? [range.from, range.to - 1] : [[...list]])],
    );
    return;
  }
  // SQLite has no SHA-256: the hashes are functions of this process, called by the statement. The
  // series is cast to INTEGER: better-sqlite3 binds a JS number as a REAL ('-5.0', not '-5').
  const db = sqliteHandle(dataSource);
  db.function('bench_session_hash', { deterministic: true }, (i: unknown) =>
    hashSessionId(sessionIdOf(Number(i))),
  );
  db.function('bench_sid_hash', { deterministic: true }, (i: unknown) => hashSid(sidOf(Number(i))));
  const series = range
    ? 'WITH RECURSIVE series(i) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT i + 1 FROM series WHERE i + 1 < ?)'
    : 'WITH series(i) AS (SELECT value FROM json_each(?))';
  db.prepare(
    `${series}
     INSERT OR IGNORE INTO oidc_sessions (${columns})
     SELECT bench_session_hash(i), ?, ?, ?, bench_sid_hash(i), 'bench-user-' || i, ?, ?, ?
     FROM series`,
  ).run(...(range ? [range.from, range.to] : [JSON.stringify(list)]), ...values);
}

/** Session `i` as the SQL seeding stores it, for a repository's own `save`. */
export function seededSession(row: SeedRow, i: number): OidcSessionInfo {
  return {
    clientSessionId: hashSessionId(sessionIdOf(i)),
    registrationId: row.registrationId,
    issuer: row.issuer,
    clientId: row.clientId,
    sid: hashSid(sidOf(i)),
    sub: subOf(i),
    idToken: row.idToken,
    createdAt: new Date(row.createdAt),
    expiresAt: new Date(row.expiresAt),
  };
}

/** Sessions `0 .. count - 1` saved in `repository`, stored as the SQL seeding stores them. */
export async function seedMemorySessions(
  repository: InMemoryOidcSessionRepository,
  row: SeedRow,
  count: number,
): Promise<void> {
  for (let i = 0; i < count; i++) await repository.save(seededSession(row, i));
}

/** Empties `oidc_logout_events` (claims and tombstones of an earlier measurement). */
export async function clearLogoutEvents(dataSource: DataSource): Promise<void> {
  await dataSource.query('DELETE FROM oidc_logout_events');
}

export async function countSessions(dataSource: DataSource): Promise<number> {
  const rows: { n: number | string }[] = await dataSource.query(
    'SELECT COUNT(*) AS n FROM oidc_sessions',
  );
  return Number(rows[0]?.n);
}

/** The query plans of the lookups a logout makes, as the database explains them. */
export async function explainLogoutLookups(
  dataSource: DataSource,
  issuer: string,
  clientId: string,
): Promise<{ bySid: string; bySub: string; byClientSessionId: string }> {
  const postgres = dataSource.options.type === 'postgres';
  const explain = async (where: string, params: unknown[]): Promise<string> => {
    const sql = `SELECT * FROM oidc_sessions WHERE ${where}`;
    if (postgres) {
      const rows: Record<string, string>[] = await dataSource.query(`EXPLAIN ${sql}`, params);
      return rows.map((r) => Object.values(r)[0]).join(' | ');
    }
    const rows: { detail: string }[] = await dataSource.query(`EXPLAIN QUERY PLAN ${sql}`, params);
    return rows.map((r) => r.detail).join(' | ');
  };
  const p = (n: number) => (postgres ? `$${n}` : '?');
  return {
    bySid: await explain(`issuer = ${p(1)} AND client_id = ${p(2)} AND sid = ${p(3)}`, [
      issuer,
      clientId,
      hashSid(sidOf(1)),
    ]),
    bySub: await explain(`issuer = ${p(1)} AND client_id = ${p(2)} AND sub = ${p(3)}`, [
      issuer,
      clientId,
      subOf(1),
    ]),
    byClientSessionId: await explain(`client_session_id = ${p(1)} AND expires_at > ${p(2)}`, [
      hashSessionId(sessionIdOf(1)),
      Date.now(),
    ]),
  };
}

interface SqliteHandle {
  function(name: string, options: { deterministic: boolean }, fn: (arg: unknown) => unknown): void;
  prepare(sql: string): { run(...params: unknown[]): unknown };
  exec(sql: string): void;
}

/** better-sqlite3's database under TypeORM's driver. */
function sqliteHandle(dataSource: DataSource): SqliteHandle {
  return (dataSource.driver as unknown as { databaseConnection: SqliteHandle }).databaseConnection;
}
