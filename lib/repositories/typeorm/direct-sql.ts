import type { OidcSessionInfo } from '../../interfaces/oidc-session-info.interface';

/** The columns of `oidc_sessions`, in the order the statements name them. */
export const SESSION_COLUMNS = [
  'client_session_id',
  'registration_id',
  'issuer',
  'client_id',
  'sid',
  'sub',
  'id_token',
  'expires_at',
  'created_at',
] as const;

/** The shapes of a logout's `WHERE`: by sid, by sub, or by both. */
export type RemovalShape = 'sid' | 'sub' | 'sidAndSub';

/**
 * The SQL of the repository's hot paths, built once per repository with bound parameters: one
 * statement each, a constant text the driver can prepare once.
 */
export interface DirectSql {
  /** `$1` id, `$2` now: the live row of one session id. */
  find: string;
  /** `$1` id, `$2` now: the id and expiry of the live row, if any (the guard's question). */
  exists: string;
  /** `$1` id: deletes it, returning the row. */
  removeById: string;
  /** `$1` issuer, `$2` client id, then the sid and/or sub: deletes the matches, returning them. */
  remove: Record<RemovalShape, string>;
  /** The same operations over arrays (one element per call of a batch); PostgreSQL only. */
  batch?: BatchSql;
}

/** PostgreSQL statements over parallel arrays (`unnest`), one element per call of a batch. */
export interface BatchSql {
  /** `$1` ids, `$2` now. */
  find: string;
  /** `$1` ids, `$2` now: the ids and expiries of the live rows. */
  exists: string;
  /** `$1` issuers, `$2` client ids, then the sids and/or subs. */
  remove: Record<RemovalShape, string>;
}

/** What {@link buildDirectSql} needs of the TypeORM driver. */
export interface SqlDialect {
  /** Quotes an identifier. */
  escape(name: string): string;
  /** The placeholder of the `index`-th (0-based) parameter: `$1` or `?`. */
  placeholder(index: number): string;
  /** Whether the statements over arrays can be built (PostgreSQL). */
  arrays: boolean;
  /**
   * PostgreSQL: a channel on which every `DELETE` announces the ids it removed (`pg_notify`, sent
   * when the statement commits), for the lookup caches of every instance.
   */
  notifyChannel?: string;
  /**
   * An SQL expression that is `'on'` (or 1) when the session cannot write (PostgreSQL:
   * `current_setting('transaction_read_only')`). With it, the guard's lookups read it in the same
   * statement, so that a store that refuses writes is answered as unavailable at no extra round
   * trip (see {@link isReadOnlyAnswer}).
   */
  readOnlyProbe?: string;
}

/** The escaped column names the statements use. */
interface Columns {
  all: string;
  id: string;
  issuer: string;
  clientId: string;
  expiresAt: string;
  removal: Record<RemovalShape, string[]>;
}

function escapedColumns(dialect: SqlDialect): Columns {
  const q = (name: string) => dialect.escape(name);
  const sid = q('sid');
  const sub = q('sub');
  return {
    all: SESSION_COLUMNS.map(q).join(', '),
    id: q('client_session_id'),
    issuer: q('issuer'),
    clientId: q('client_id'),
    expiresAt: q('expires_at'),
    removal: { sid: [sid], sub: [sub], sidAndSub: [sid, sub] },
  };
}

/**
 * `DELETE ... RETURNING`, announcing each removed id when the dialect has a channel; after the
 * data-modifying `WITH` query `first` when given (run in the same statement, whatever it returns).
 */
function deleting(
  dialect: SqlDialect,
  sessions: string,
  columns: Columns,
  where: string,
  first?: string,
): string {
  const statement = `DELETE FROM ${sessions} WHERE ${where} RETURNING ${columns.all}`;
  const before = first === undefined ? '' : `c AS (${first}), `;
  if (dialect.notifyChannel === undefined) {
    return first === undefined ? statement : `WITH c AS (${first}) ${statement}`;
  }
  const channel = `'${dialect.notifyChannel.replace(/'/g, "''")}'`;
  return `WITH ${before}d AS (${statement}) SELECT d.*, pg_notify(${channel}, d.${columns.id}) AS notified FROM d`;
}

/**
 * A logout's removals that also mark its claim applied in `events` (the logout-event table, on
 * the same database): the removal's parameters, then the claim's stored key (`batch`: the keys).
 * PostgreSQL only: the claim and the removal commit together.
 */
export interface CompletingRemovalSql {
  remove: Record<RemovalShape, string>;
  batch: Record<RemovalShape, string>;
}

/** Builds {@link CompletingRemovalSql} on `sessions` and `events` (escaped, schema-qualified). */
export function buildCompletingRemovalSql(
  dialect: SqlDialect,
  sessions: string,
  events: string,
): CompletingRemovalSql {
  const columns = escapedColumns(dialect);
  const { issuer, clientId } = columns;
  const key = dialect.escape('event_key');
  const completing = (where: string) => claimCompletionSql(dialect, events, where);
  const shapes = (build: (last: string[]) => string): Record<RemovalShape, string> => ({
    sid: build(columns.removal.sid),
    sub: build(columns.removal.sub),
    sidAndSub: build(columns.removal.sidAndSub),
  });
  return {
    remove: shapes((last) => {
      const all = [issuer, clientId, ...last];
      const claim = completing(`${key} = ${dialect.placeholder(all.length)}`);
      return deleting(dialect, sessions, columns, removalEquals(dialect, all), claim);
    }),
    batch: shapes((last) => {
      const all = [issuer, clientId, ...last];
      const claim = completing(`${key} = ANY(${dialect.placeholder(all.length)}::varchar[])`);
      return deleting(dialect, sessions, columns, removalsOverArrays(dialect, all), claim);
    }),
  };
}

/**
 * The completion of the claims `where` names on `events`: `'claim'` becomes `'applied'` (an
 * applied or expired-and-replaced row is left as it is). The logout-event store's own completion
 * and the completing removal share it.
 */
export function claimCompletionSql(
  dialect: Pick<SqlDialect, 'escape'>,
  events: string,
  where: string,
): string {
  const kind = dialect.escape('kind');
  return `UPDATE ${events} SET ${kind} = 'applied' WHERE ${where} AND ${kind} = 'claim'`;
}

/** The `WHERE` of a single removal: each of `columns` equal to its parameter, in order. */
function removalEquals(dialect: SqlDialect, columns: string[]): string {
  return columns.map((column, i) => `${column} = ${dialect.placeholder(i)}`).join(' AND ');
}

/** The `WHERE` of a batch removal: the rows of `columns` equal to a row of the arrays. */
function removalsOverArrays(dialect: SqlDialect, columns: string[]): string {
  const arrays = columns.map((_, i) => `${dialect.placeholder(i)}::varchar[]`).join(', ');
  return `(${columns.join(', ')}) IN (SELECT * FROM unnest(${arrays}))`;
}

/**
 * A lookup of `selected` where `where`. With a read-only probe: one row more or less, always at
 * least one (a left join from a one-row table), that carries the probe's value in
 * `store_read_only` (the session columns are null when no session matched).
 */
function lookup(dialect: SqlDialect, sessions: string, selected: string, where: string): string {
  const probe = dialect.readOnlyProbe;
  if (probe === undefined) return `SELECT ${selected} FROM ${sessions} WHERE ${where}`;
  const qualified = selected
    .split(', ')
    .map((column) => `s.${column}`)
    .join(', ');
  return (
    `SELECT ${qualified}, ${probe} AS ${READ_ONLY_COLUMN} ` +
    // Each condition of `where` starts with a column name: qualify it.
    `FROM (SELECT 1) AS one LEFT JOIN ${sessions} AS s ON ${where.replace(/(^|AND )/g, '$1s.')}`
  );
}

/** Builds the statements on `sessions` (the escaped, schema-qualified table name). */
export function buildDirectSql(dialect: SqlDialect, sessions: string): DirectSql {
  const columns = escapedColumns(dialect);
  const { id, issuer, clientId, expiresAt } = columns;
  const p = (count: number) => Array.from({ length: count }, (_, i) => dialect.placeholder(i));
  const removeWhere = (last: string[]) =>
    deleting(dialect, sessions, columns, removalEquals(dialect, [issuer, clientId, ...last]));
  const find = p(2);
  const live = `${id} = ${find[0]} AND ${expiresAt} > ${find[1]}`;
  const sql: DirectSql = {
    find: lookup(dialect, sessions, columns.all, live),
    exists: lookup(dialect, sessions, `${id}, ${expiresAt}`, live),
    removeById: deleting(dialect, sessions, columns, `${id} = ${p(1)[0]}`),
    remove: {
      sid: removeWhere(columns.removal.sid),
      sub: removeWhere(columns.removal.sub),
      sidAndSub: removeWhere(columns.removal.sidAndSub),
    },
  };
  if (dialect.arrays) sql.batch = buildBatchSql(dialect, sessions, columns);
  return sql;
}

/**
 * The batched statements: `unnest` of parallel arrays, one row per call. The row comparisons use
 * the composite indexes (issuer, sid) and (issuer, sub) as the single statements do.
 */
function buildBatchSql(
  dialect: SqlDialect,
  sessions: string,
  columns: Columns,
): NonNullable<DirectSql['batch']> {
  const { id, issuer, clientId, expiresAt } = columns;
  const removeBatch = (last: string[]) =>
    deleting(dialect, sessions, columns, removalsOverArrays(dialect, [issuer, clientId, ...last]));
  const live = `${id} = ANY(${dialect.placeholder(0)}::varchar[]) AND ${expiresAt} > ${dialect.placeholder(1)}`;
  return {
    find: lookup(dialect, sessions, columns.all, live),
    exists: lookup(dialect, sessions, `${id}, ${expiresAt}`, live),
    remove: {
      sid: removeBatch(columns.removal.sid),
      sub: removeBatch(columns.removal.sub),
      sidAndSub: removeBatch(columns.removal.sidAndSub),
    },
  };
}

/** The column of a lookup's rows that carries the read-only probe's value. @internal */
export const READ_ONLY_COLUMN = 'store_read_only';

/** Whether a read-only probe's value says the session cannot write (`'on'`, 1, `'1'`, `true`). */
export function isReadOnlyAnswer(value: unknown): boolean {
  return value === 'on' || value === 1 || value === '1' || value === true;
}

/**
 * The store can be read but refuses writes (a replica after a failover, PostgreSQL's
 * `default_transaction_read_only`, MySQL/MariaDB `read_only`): logouts cannot be recorded, so no
 * lookup may answer that a session is live. The guard answers 503 on every instance.
 *
 * @internal
 */
export class ReadOnlyStoreError extends Error {
  constructor() {
    super('the session store is read-only: logouts cannot be recorded');
    this.name = 'ReadOnlyStoreError';
  }
}

/** A row of `oidc_sessions` as the driver returns it (PostgreSQL's `bigint` as a string). */
export interface RawSessionRow {
  client_session_id: string;
  registration_id: string;
  issuer: string;
  client_id: string;
  sid: string | null;
  sub: string;
  id_token: string;
  expires_at: number | string;
  created_at: number | string;
}

/** The {@link OidcSessionInfo} of a raw row. */
export function rawToInfo(row: RawSessionRow): OidcSessionInfo {
  const info: OidcSessionInfo = {
    clientSessionId: row.client_session_id,
    registrationId: row.registration_id,
    issuer: row.issuer,
    clientId: row.client_id,
    sub: row.sub,
    idToken: row.id_token,
    expiresAt: new Date(Number(row.expires_at)),
    createdAt: new Date(Number(row.created_at)),
  };
  if (row.sid !== null) info.sid = row.sid;
  return info;
}
