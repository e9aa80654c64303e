import { Logger } from '@nestjs/common';
import type { DataSource, Driver } from 'typeorm';
import { OidcLogoutOptionsError } from '../../errors/oidc-logout.error';
import { hashSid, isSidDigest, SID_DIGEST_PREFIX } from '../session-id-hash';

/** Drivers of the MySQL family: their columns take the table's (or database's) charset. */
export const MYSQL_FAMILY_DRIVERS = new Set(['mysql', 'mariadb', 'aurora-mysql']);
/** Charset of the library's string columns on MySQL/MariaDB. */
export const MYSQL_CHARSET = 'utf8mb4';
/**
 * Collation of the library's string columns on MySQL/MariaDB: binary (case- and accent-sensitive),
 * and the one name both servers know. It still pads trailing spaces (`'a' = 'a '`), as every
 * collation of MariaDB's and MySQL 5.7's does: the repository compares every candidate row again in
 * JavaScript, exactly.
 */
export const MYSQL_COLLATION = 'utf8mb4_bin';

/** A string column of the library's tables: its SQL type and nullability, for MySQL `MODIFY`. */
interface StringColumn {
  name: string;
  type: string;
  nullable: boolean;
}

/** Every string column of the library's two tables, as their entities declare them. */
export const STRING_COLUMNS: Record<'oidc_sessions' | 'oidc_logout_events', StringColumn[]> = {
  oidc_sessions: [
    { name: 'client_session_id', type: 'varchar(64)', nullable: false },
    { name: 'registration_id', type: 'varchar(255)', nullable: false },
    { name: 'issuer', type: 'varchar(512)', nullable: false },
    { name: 'client_id', type: 'varchar(255)', nullable: false },
    { name: 'sid', type: 'varchar(255)', nullable: true },
    { name: 'sub', type: 'varchar(255)', nullable: false },
    { name: 'id_token', type: 'text', nullable: false },
  ],
  oidc_logout_events: [
    { name: 'event_key', type: 'varchar(128)', nullable: false },
    { name: 'kind', type: 'varchar(16)', nullable: false },
  ],
};

/** Rows read per statement while hashing sids. */
const CHUNK = 500;

/** Runs one SQL statement with positional parameters and resolves its rows. */
export type RunQuery = (sql: string, parameters: unknown[]) => Promise<unknown>;

/** A table name split into its schema (database) and name. */
function splitPath(tablePath: string): { schema: string | undefined; name: string } {
  const parts = tablePath.split('.');
  const name = parts.pop() as string;
  return { schema: parts.length > 0 ? parts.join('.') : undefined, name };
}

/** The escaped, possibly schema-qualified, name of a table. */
export function escapeTable(driver: Driver, tablePath: string): string {
  return tablePath
    .split('.')
    .map((part) => driver.escape(part))
    .join('.');
}

/**
 * Replaces every `sid` an earlier version stored in clear in `oidc_sessions` by its digest
 * ({@link hashSid}). Rows are read in chunks, in primary-key order, and each is updated only if its
 * `sid` is still the one read (a concurrent login of the same session keeps its own). A value that
 * starts with `sha256:` is taken for a digest and left alone, so that running it again changes
 * nothing. Resolves how many rows it converted. Portable: the digest is computed here, not in SQL.
 *
 * @internal
 */
export async function hashClearSids(
  driver: Driver,
  query: RunQuery,
  tablePath = 'oidc_sessions',
): Promise<number> {
  const table = escapeTable(driver, tablePath);
  const id = driver.escape('client_session_id');
  const sid = driver.escape('sid');
  const p = (index: number) => driver.createParameter(`p${index}`, index);
  let after = '';
  let converted = 0;
  for (;;) {
    const rows = (await query(
      `SELECT ${id} AS id, ${sid} AS sid FROM ${table} WHERE ${sid} IS NOT NULL ` +
        `AND SUBSTR(${sid}, 1, ${SID_DIGEST_PREFIX.length}) <> '${SID_DIGEST_PREFIX}' ` +
        `AND ${id} > ${p(0)} ORDER BY ${id} LIMIT ${CHUNK}`,
      [after],
    )) as { id: string; sid: string }[];
    for (const row of rows) {
      if (isSidDigest(row.sid)) continue;
      await query(
        `UPDATE ${table} SET ${sid} = ${p(0)} WHERE ${id} = ${p(1)} AND ${sid} = ${p(2)}`,
        [hashSid(row.sid), row.id, row.sid],
      );
      converted += 1;
    }
    if (rows.length < CHUNK) return converted;
    after = (rows[rows.length - 1] as { id: string }).id;
  }
}

/**
 * MySQL/MariaDB: makes the string columns of the library's tables `utf8mb4` with
 * {@link MYSQL_COLLATION} (and the tables' default charset too), whatever the database's defaults
 * were when they were created. Columns that are so already are left alone; a table that needs no
 * change is not rebuilt. A no-op on other drivers.
 *
 * @internal
 */
export async function convertMysqlKeyColumns(
  driver: Driver,
  query: RunQuery,
  tablePaths: Record<keyof typeof STRING_COLUMNS, string> = {
    oidc_sessions: 'oidc_sessions',
    oidc_logout_events: 'oidc_logout_events',
  },
): Promise<void> {
  if (!MYSQL_FAMILY_DRIVERS.has(String(driver.options.type))) return;
  for (const [key, columns] of Object.entries(STRING_COLUMNS)) {
    const tablePath = tablePaths[key as keyof typeof STRING_COLUMNS];
    if (tablePath === undefined) continue; // the other store's table
    const current = await mysqlColumns(query, tablePath);
    const wrong = columns.filter((column) => {
      const found = current.get(column.name);
      return found === undefined || !isBinaryUtf8mb4(found);
    });
    if (wrong.length === 0) continue;
    const modify = columns.map(
      (column) =>
        `MODIFY ${driver.escape(column.name)} ${column.type} CHARACTER SET ${MYSQL_CHARSET} ` +
        `COLLATE ${MYSQL_COLLATION} ${column.nullable ? 'NULL' : 'NOT NULL'}`,
    );
    await query(
      `ALTER TABLE ${escapeTable(driver, tablePath)} DEFAULT CHARACTER SET ${MYSQL_CHARSET} ` +
        `COLLATE ${MYSQL_COLLATION}, ${modify.join(', ')}`,
      [],
    );
  }
}

interface ColumnCharset {
  charset: string | null;
  collation: string | null;
}

function isBinaryUtf8mb4(column: ColumnCharset): boolean {
  return column.charset === MYSQL_CHARSET && column.collation === MYSQL_COLLATION;
}

/** The charset and collation of every string column of a table (MySQL/MariaDB). */
async function mysqlColumns(
  query: RunQuery,
  tablePath: string,
): Promise<Map<string, ColumnCharset>> {
  const { schema, name } = splitPath(tablePath);
  const rows = (await query(
    'SELECT COLUMN_NAME AS name, CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation ' +
      'FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) ' +
      'AND TABLE_NAME = ? AND CHARACTER_SET_NAME IS NOT NULL',
    [schema ?? null, name],
  )) as { name: string; charset: string | null; collation: string | null }[];
  return new Map(rows.map((row) => [row.name, { charset: row.charset, collation: row.collation }]));
}

/**
 * MySQL/MariaDB, at startup: refuses a table whose key columns cannot hold every character (a
 * charset other than `utf8mb4`: without strict mode the server stores what it cannot encode as `?`,
 * and a logout naming that sub or issuer would find nothing). Resolves the columns whose collation
 * is not binary (comparisons stay exact: the repository filters candidates again in JavaScript).
 *
 * @internal
 */
export async function checkMysqlKeyColumns(
  dataSource: DataSource,
  query: RunQuery,
  tablePaths: Partial<Record<keyof typeof STRING_COLUMNS, string>>,
): Promise<string[]> {
  if (!MYSQL_FAMILY_DRIVERS.has(String(dataSource.options.type))) return [];
  const notBinary: string[] = [];
  const wrongCharset: string[] = [];
  for (const [key, columns] of Object.entries(STRING_COLUMNS)) {
    const tablePath = tablePaths[key as keyof typeof STRING_COLUMNS];
    if (tablePath === undefined) continue; // the other store's table
    const current = await mysqlColumns(query, tablePath);
    for (const column of columns) {
      if (column.name === 'id_token') continue; // an ASCII JWT, never compared
      const found = current.get(column.name);
      if (!found) continue; // the entity check reports missing tables
      const label = `${tablePath}.${column.name}`;
      if (found.charset !== MYSQL_CHARSET) wrongCharset.push(`${label} (${String(found.charset)})`);
      else if (found.collation !== MYSQL_COLLATION) notBinary.push(label);
    }
  }
  if (wrongCharset.length > 0) {
    throw new OidcLogoutOptionsError(
      `The OIDC session tables have columns that are not utf8mb4: ${wrongCharset.join(', ')}. ` +
        'A sid, sub or issuer they cannot encode would be stored as "?" and its logout lost. Run ' +
        `OIDC_LOGOUT_MIGRATIONS (the migration SidDigestsAndBinaryKeys1764000000000 converts them to ` +
        `${MYSQL_CHARSET} / ${MYSQL_COLLATION}; with \`synchronize\`, add the migrations and ` +
        '`migrationsRun: true`).',
    );
  }
  return notBinary;
}

/**
 * What the repository does with its tables at startup, after it found them: refuses MySQL/MariaDB
 * key columns that are not utf8mb4 ({@link checkMysqlKeyColumns}; a non-binary collation is logged),
 * and hashes the sids an earlier version stored in clear ({@link hashClearSids}: a database that
 * did not run the migration, or logins an instance of the earlier version recorded after it ran).
 *
 * @internal
 */
export async function prepareStoredTables(
  dataSource: DataSource,
  query: RunQuery,
  tablePaths: Partial<Record<keyof typeof STRING_COLUMNS, string>>,
): Promise<void> {
  const logger = new Logger('TypeOrmOidcSessionRepository');
  const notBinary = await checkMysqlKeyColumns(dataSource, query, tablePaths);
  if (notBinary.length > 0) {
    logger.warn({
      event: 'oidc_session_columns_not_binary',
      columns: notBinary,
      fix: 'run OIDC_LOGOUT_MIGRATIONS (SidDigestsAndBinaryKeys1764000000000)',
    });
  }
  if (tablePaths.oidc_sessions === undefined) return;
  const converted = await hashClearSids(dataSource.driver, query, tablePaths.oidc_sessions);
  if (converted > 0) logger.warn({ event: 'oidc_session_sids_hashed', rows: converted });
}
