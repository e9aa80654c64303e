import { claimCompletionSql } from '../../repositories/typeorm/direct-sql';
/** Which parts a logout's `begin` carries: a claim, a tombstone, or both. */
export type BeginShape = 'claim' | 'tombstone' | 'both';

/** The SQL of the logout-event store's hot paths, one statement each. */
export interface LogoutEventSql {
  /**
   * One upsert of the claim and/or the tombstone: the claim row first (`$` key, expires at), then
   * the tombstone's (key, issued at, expires at), then now three times. Returns the key of every
   * row written: the claim's unless it is live and applied (a replay).
   */
  begin: Record<BeginShape, string>;
  /** `$1` key: marks the claim applied. */
  complete: string;
  /** PostgreSQL: the same over arrays (one element per row of a batch). */
  batch?: {
    /** `$1` keys (distinct), `$2` kinds, `$3` issued-ats, `$4` expiries, then now three times. */
    begin: string;
    /** `$1` keys. */
    complete: string;
  };
}

/** What {@link buildLogoutEventSql} needs of the TypeORM driver. */
export interface EventSqlDialect {
  escape(name: string): string;
  /** The placeholder of the `index`-th (0-based) parameter: `$1` or `?`. */
  placeholder(index: number): string;
  /** `'on-conflict'` (PostgreSQL, SQLite) or `'on-duplicate-key'` (MySQL/MariaDB). */
  upsert: 'on-conflict' | 'on-duplicate-key';
  /** Whether the statements over arrays can be built (PostgreSQL). */
  arrays: boolean;
}

/**
 * Builds the statements on `events` (the escaped, schema-qualified table name), in one upsert for
 * both kinds of row (their keys never collide: each is hashed with its kind):
 * - a claim row inserts, takes over an expired row, keeps a live claim still `'claim'` (not applied)
 *   until the later expiry, and leaves a live `'applied'` one as it is (a replay);
 * - a tombstone row inserts, replaces an expired row, or keeps the larger `issued_at` and the later
 *   `expires_at` of a live one.
 *
 * On PostgreSQL and SQLite the statement returns the keys it wrote (`RETURNING`). MySQL/MariaDB
 * have no `RETURNING` for an upsert: the claim row's update reports a replay through
 * `LAST_INSERT_ID(2)`, which the server sends back as the statement's insert id (0 when nothing
 * called it: an insert; 1: a claim taken over or still claimed).
 *
 * @internal
 */
export function buildLogoutEventSql(dialect: EventSqlDialect, events: string): LogoutEventSql {
  const names = eventColumns(dialect);
  const { key } = names;
  const ph = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => dialect.placeholder(from + i));
  const claimRow = (at: number) => {
    const [k, x] = ph(at, 2);
    return `(${k}, 'claim', NULL, ${x})`;
  };
  const tombstoneRow = (at: number) => {
    const [k, i, x] = ph(at, 3);
    return `(${k}, 'tombstone', ${i}, ${x})`;
  };
  const rows: Record<BeginShape, [string, number]> = {
    claim: [claimRow(0), 2],
    tombstone: [tombstoneRow(0), 3],
    both: [`${claimRow(0)}, ${tombstoneRow(2)}`, 5],
  };
  const begin = (shape: BeginShape) => {
    const [source, count] = rows[shape];
    const values = dialect.upsert === 'on-duplicate-key' ? source : `VALUES ${source}`;
    return upsert(dialect, events, names, values, count);
  };
  const completing = (where: string) => claimCompletionSql(dialect, events, where);
  const sql: LogoutEventSql = {
    begin: { claim: begin('claim'), tombstone: begin('tombstone'), both: begin('both') },
    complete: completing(`${key} = ${dialect.placeholder(0)}`),
  };
  if (!dialect.arrays) return sql;
  const [k, kd, i, x] = ph(0, 4) as [string, string, string, string];
  sql.batch = {
    begin: upsert(
      dialect,
      events,
      names,
      `SELECT k, kd, i, x FROM unnest(${k}::varchar[], ${kd}::varchar[], ${i}::bigint[], ${x}::bigint[]) AS t(k, kd, i, x)`,
      4,
    ),
    complete: completing(`${key} = ANY(${dialect.placeholder(0)}::varchar[])`),
  };
  return sql;
}

/** The escaped columns of the events table. */
interface EventColumns {
  key: string;
  kind: string;
  issued: string;
  expires: string;
}

function eventColumns(dialect: EventSqlDialect): EventColumns {
  const q = (name: string) => dialect.escape(name);
  return { key: q('event_key'), kind: q('kind'), issued: q('issued_at'), expires: q('expires_at') };
}

/**
 * The begin upsert of the rows of `source`, its three "now" placeholders from `nowAt` on (the
 * rules are in {@link buildLogoutEventSql}'s comment).
 */
function upsert(
  dialect: EventSqlDialect,
  events: string,
  { key, kind, issued, expires }: EventColumns,
  source: string,
  nowAt: number,
): string {
  const [n1, n2, n3] = [0, 1, 2].map((i) => dialect.placeholder(nowAt + i)) as [
    string,
    string,
    string,
  ];
  const columns = `(${key}, ${kind}, ${issued}, ${expires})`;
  if (dialect.upsert === 'on-duplicate-key') {
    // Assignments run left to right, each seeing the ones before: `kind` is assigned after
    // `issued_at` reads the old one, and `expires_at` after it, reading the new one (a replay's
    // stays 'applied', an applied claim's becomes 'claim').
    return (
      `INSERT INTO ${events} ${columns} VALUES ${source} ON DUPLICATE KEY UPDATE ` +
      `${issued} = IF(${kind} = 'tombstone' AND ${expires} > ${n1} AND ${issued} > VALUES(${issued}), ${issued}, VALUES(${issued})), ` +
      `${kind} = IF(VALUES(${kind}) = 'claim', IF(LAST_INSERT_ID(IF(${kind} = 'applied' AND ${expires} > ${n2}, 2, 1)) = 2, ${kind}, 'claim'), 'tombstone'), ` +
      `${expires} = IF(VALUES(${kind}) = 'claim' AND ${kind} = 'applied', ${expires}, IF(${expires} > ${n3} AND ${expires} > VALUES(${expires}), ${expires}, VALUES(${expires})))`
    );
  }
  return (
    `INSERT INTO ${events} AS e ${columns} ${source} ON CONFLICT (${key}) DO UPDATE SET ` +
    `${issued} = CASE WHEN e.${kind} = 'tombstone' AND e.${expires} > ${n1} AND e.${issued} > excluded.${issued} THEN e.${issued} ELSE excluded.${issued} END, ` +
    `${expires} = CASE WHEN e.${expires} > ${n2} AND e.${expires} > excluded.${expires} THEN e.${expires} ELSE excluded.${expires} END, ` +
    `${kind} = excluded.${kind} ` +
    `WHERE excluded.${kind} = 'tombstone' OR e.${expires} <= ${n3} OR e.${kind} = 'claim' ` +
    `RETURNING ${key}`
  );
}
