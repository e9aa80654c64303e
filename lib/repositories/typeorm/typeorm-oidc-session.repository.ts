import type { DataSource, EntityManager } from 'typeorm';
import { OidcLogoutOptionsError } from '../../errors/oidc-logout.error';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../../interfaces/oidc-session-info.interface';
import { assertValidDate, EXPIRE_ENTRIES } from '../../logout-events/oidc-logout-event.store';
import {
  assertLogoutCriteria,
  EXISTS_NOW,
  OidcSessionRepository,
} from '../oidc-session.repository';
import {
  buildDirectSql,
  isReadOnlyAnswer,
  rawToInfo,
  READ_ONLY_COLUMN,
  ReadOnlyStoreError,
  SESSION_COLUMNS,
  type RawSessionRow,
} from './direct-sql';
import { DirectStatements, type Removal } from './direct-statements';
import { OidcSessionEntity } from './oidc-session.entity';
import { PostgresRemovalFeed, REMOVAL_CHANNEL } from './postgres-removal-feed';
import { SessionLookupCache } from './session-lookup-cache';
import type { StatementBatchLimits } from './statement-batcher';
import { initializeStoreTables } from './store-tables';
import type { TypeOrmOidcSessionRepositoryOptions } from './typeorm-oidc-session-repository.options';
import {
  BATCH_DRIVERS,
  DIRECT_SQL_DRIVERS,
  errorCode,
  InvalidRecordError,
  isRetryable,
  MAX_ATTEMPTS,
  NOTIFY_DRIVERS,
  READ_ONLY_PROBE_DRIVERS,
  TypeOrmRunner,
} from './typeorm-store-support';

/** Default {@link TypeOrmOidcSessionRepositoryOptions.batching}. */
const DEFAULT_BATCHING: StatementBatchLimits = { maxConcurrent: 2, maxSize: 100 };
/** Primary keys per `DELETE ... IN (...)` / `SELECT ... IN (...)` statement. */
const DELETE_CHUNK = 500;

/** Character limits of the columns (SQLite does not enforce them; MySQL might truncate). */
const LIMITS = {
  clientSessionId: 64,
  registrationId: 255,
  issuer: 512,
  clientId: 255,
  sid: 255,
  sub: 255,
} as const;
/** MySQL/MariaDB `TEXT` holds 65,535 bytes. */
const ID_TOKEN_MAX_BYTES = 65_535;

const COLUMNS = [...SESSION_COLUMNS];

/**
 * {@link OidcSessionRepository} on a TypeORM `DataSource`: SQLite (better-sqlite3), PostgreSQL,
 * MySQL/MariaDB. Every app instance sharing the database sees the same revocations. Logout events
 * live in `TypeOrmOidcLogoutEventStore` (the table `oidc_logout_events`), the module's default on
 * the same DataSource.
 *
 * The `DataSource` must know {@link OidcSessionEntity} (add `OIDC_LOGOUT_ENTITIES` to `entities`,
 * or use `autoLoadEntities`) and its table `oidc_sessions` must exist (`synchronize`, or
 * `OIDC_LOGOUT_MIGRATIONS`). Call
 * {@link TypeOrmOidcSessionRepository.init} once at startup; the module does it for you.
 *
 * Every database failure rejects with an {@link OidcSessionRepositoryError} (its message carries no
 * session id or token; the driver's error is its `cause`), so that callers fail closed.
 *
 * Comparisons are exact (case- and trailing-space-sensitive) on every database, including
 * MySQL/MariaDB whose default collations are not: candidate rows are filtered again in JavaScript.
 *
 * @publicApi
 */
export class TypeOrmOidcSessionRepository extends OidcSessionRepository {
  private initialization: Promise<void> | undefined;
  /** MariaDB: a logout's removal is one `DELETE ... RETURNING` (MySQL: a locking transaction). */
  private deleteReturning = false;
  /** How the repository talks to its DataSource. */
  private readonly runner: TypeOrmRunner;
  /** The SQL of the hot paths, built on first use (DIRECT_SQL_DRIVERS only). */
  private statements: DirectStatements | undefined;

  private readonly batchLimits: StatementBatchLimits | false;
  private readonly cache: SessionLookupCache | undefined;
  private readonly notifyRemovals: boolean;
  private feed: PostgresRemovalFeed | undefined;
  /** MySQL/MariaDB: the session variable that tells a read-only transaction. */
  private transactionReadOnlyVariable: 'transaction_read_only' | 'tx_read_only' =
    'transaction_read_only';

  constructor(
    private readonly dataSource: DataSource,
    options: TypeOrmOidcSessionRepositoryOptions = {},
  ) {
    super();
    this.runner = new TypeOrmRunner(dataSource, 'OIDC session repository');
    this.batchLimits = resolveBatching(options.batching);
    const cacheOptions = options.lookupCache === true ? {} : options.lookupCache || undefined;
    this.cache = cacheOptions ? new SessionLookupCache(cacheOptions) : undefined;
    this.notifyRemovals = options.notifyRemovals ?? this.cache !== undefined;
    if ((this.cache || this.notifyRemovals) && !NOTIFY_DRIVERS.has(this.driverType)) {
      throw new OidcLogoutOptionsError(
        'TypeOrmOidcSessionRepository: lookupCache and notifyRemovals need PostgreSQL ' +
          `(LISTEN/NOTIFY); the DataSource is '${this.driverType}'`,
      );
    }
  }

  /**
   * Stops the removal feed of `lookupCache` and gives its connection back to the pool (the cache
   * then answers nothing from memory). Called by Nest when the module is destroyed; call it before
   * destroying the DataSource when you manage the repository yourself. Idempotent.
   */
  async close(): Promise<void> {
    const feed = this.feed;
    this.feed = undefined;
    await feed?.stop();
  }

  /** @internal Nest lifecycle hook. */
  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  /**
   * Initializes the `DataSource` when it is not yet, then checks that it knows
   * {@link OidcSessionEntity} and {@link OidcLogoutEventEntity} and that their tables exist. Throws
   * an `OidcLogoutOptionsError` explaining the fix otherwise. Idempotent.
   */
  init(): Promise<void> {
    this.initialization ??= this.initialize().catch((error: unknown) => {
      this.initialization = undefined;
      throw error;
    });
    return this.initialization;
  }

  override save(info: OidcSessionInfo): Promise<void> {
    return this.runner.run('save the session', async (manager) => {
      const row = toRow(info);
      await manager
        .createQueryBuilder()
        .insert()
        .into(OidcSessionEntity)
        .values(row)
        .orUpdate(COLUMNS, ['client_session_id'])
        .updateEntity(false)
        .execute();
    });
  }

  override findByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    const direct = this.directStatements();
    if (direct) {
      return this.runner.run('look up the session', async () => {
        const row = await direct.find(clientSessionId);
        return row ? rawToInfo(row) : undefined;
      });
    }
    if (READ_ONLY_PROBE_DRIVERS.has(this.driverType)) {
      return this.runner.run('look up the session', (manager) =>
        this.findWithReadOnlyProbe(manager, clientSessionId),
      );
    }
    return this.runner.run('look up the session', async (manager) => {
      const row = await manager
        .createQueryBuilder(OidcSessionEntity, 's')
        .where('s.clientSessionId = :clientSessionId', { clientSessionId })
        .andWhere('s.expiresAt > :now', { now: Date.now() })
        .getOne();
      return row && row.clientSessionId === clientSessionId ? toInfo(row) : undefined;
    });
  }

  /**
   * On PostgreSQL and SQLite, reads the id and expiry alone (not the ID token); elsewhere, the
   * default. With `lookupCache`, a session found live recently is answered from memory,
   * synchronously.
   */
  override existsByClientSessionId(clientSessionId: string): Promise<boolean> {
    return Promise.resolve(this[EXISTS_NOW](clientSessionId));
  }

  /** {@link existsByClientSessionId}, `true` at once from the `lookupCache`. @internal */
  [EXISTS_NOW](clientSessionId: string): boolean | Promise<boolean> {
    const direct = this.directStatements();
    if (!direct) return super.existsByClientSessionId(clientSessionId);
    const cache = this.cache;
    if (cache?.has(clientSessionId, Date.now())) return true;
    const epoch = cache?.epoch;
    return this.runner.run('look up the session', async () => {
      const until = await direct.liveUntil(clientSessionId);
      if (until === undefined) return false;
      if (cache && epoch !== undefined) cache.remember(clientSessionId, until, Date.now(), epoch);
      return true;
    });
  }

  override removeByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    const direct = this.directStatements();
    if (direct) {
      return this.runner.run('remove the session', async () => {
        const row = await direct.removeById(clientSessionId);
        if (row) this.cache?.forget([row.client_session_id]);
        return row && Number(row.expires_at) > Date.now() ? rawToInfo(row) : undefined;
      });
    }
    return this.runner.runInTransaction('remove the session', async (manager) => {
      const rows = await this.runner
        .lockRows(
          manager
            .createQueryBuilder(OidcSessionEntity, 's')
            .where('s.clientSessionId = :clientSessionId', { clientSessionId }),
        )
        .getMany();
      const row = rows.find((candidate) => candidate.clientSessionId === clientSessionId);
      if (!row) return undefined;
      await deleteByIds(manager, [row.clientSessionId]);
      return row.expiresAt > Date.now() ? toInfo(row) : undefined;
    });
  }

  override async removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    assertLogoutCriteria(criteria);
    const { issuer, clientId, sid, sub } = criteria;
    const direct = this.directStatements();
    if (direct) {
      // One statement: atomic, and a concurrent logout of the same rows gets none of them.
      const removal: Removal = sid
        ? sub
          ? { shape: 'sidAndSub', values: [issuer, clientId, sid, sub] }
          : { shape: 'sid', values: [issuer, clientId, sid] }
        : { shape: 'sub', values: [issuer, clientId, sub as string] };
      return await this.runner.run('remove the sessions of a logout', async () => {
        const rows = await direct.remove(removal);
        this.cache?.forget(rows.map((row) => row.client_session_id));
        // Expired matches are deleted too, but they were already absent: not reported.
        const now = Date.now();
        return rows.filter((row) => Number(row.expires_at) > now).map(rawToInfo);
      });
    }
    if (this.deleteReturning) {
      return await this.runner.run('remove the sessions of a logout', () =>
        this.removeReturning(criteria),
      );
    }
    return await this.runner.runInTransaction(
      'remove the sessions of a logout',
      async (manager) => {
        const query = manager
          .createQueryBuilder(OidcSessionEntity, 's')
          .where('s.issuer = :issuer', { issuer })
          .andWhere('s.clientId = :clientId', { clientId });
        if (sid) query.andWhere('s.sid = :sid', { sid });
        if (sub) query.andWhere('s.sub = :sub', { sub });
        const candidates = await this.runner.lockRows(query).getMany();
        // Exact comparison: MySQL/MariaDB collations ignore case and trailing spaces.
        const matches = candidates.filter(
          (row) =>
            row.issuer === issuer &&
            row.clientId === clientId &&
            (!sid || row.sid === sid) &&
            (!sub || row.sub === sub),
        );
        await deleteByIds(
          manager,
          matches.map((row) => row.clientSessionId),
        );
        // Expired matches are deleted too, but they were already absent: not reported.
        const now = Date.now();
        return matches.filter((row) => row.expiresAt > now).map(toInfo);
      },
    );
  }

  /** Deletes the expired records with one statement; answers how many (0 if the driver does not say). @internal */
  async [EXPIRE_ENTRIES](now: Date): Promise<number> {
    assertValidDate(now, 'now');
    const time = now.getTime();
    return await this.runner.run('remove expired sessions', async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .delete()
        .from(OidcSessionEntity)
        .where('expires_at <= :now', { now: time })
        .execute();
      return typeof result.affected === 'number' ? result.affected : 0;
    });
  }

  /**
   * MariaDB: the rows a logout names, deleted and returned by one statement. The comparisons are
   * exact (`BINARY`: case, accents and trailing spaces count) beside the ones the indexes serve.
   */
  private async removeReturning(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    const { issuer, clientId, sid, sub } = criteria;
    const q = (name: string) => this.dataSource.driver.escape(name);
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

  private async initialize(): Promise<void> {
    await initializeStoreTables(this.runner, 'OIDC session repository', [
      { name: 'OidcSessionEntity', table: 'oidc_sessions', entity: OidcSessionEntity },
    ]);
    if (READ_ONLY_PROBE_DRIVERS.has(this.driverType)) {
      // MariaDB (whatever the driver's name) has DELETE ... RETURNING; MySQL has not.
      const [row] = await this.runner.run('check its server', (manager) =>
        manager.query<{ version?: unknown }[]>('SELECT VERSION() AS version'),
      );
      this.deleteReturning = /mariadb/i.test(String(row?.version));
    }
    const cache = this.cache;
    if (cache && !this.feed) {
      this.feed = new PostgresRemovalFeed(this.dataSource.driver, {
        removed: (id) => cache.forget([id]),
        connected: (up) => cache.setConnected(up),
      });
      await this.feed.start();
    }
  }

  /**
   * MySQL/MariaDB: the live row of a session id, and in the same statement (no extra round trip)
   * whether the server refuses writes: `@@global.read_only` (a replica) or the session's
   * `transaction_read_only` (`tx_read_only` on MariaDB before 11.1, found out at the first lookup). A read-only store rejects with
   * {@link ReadOnlyStoreError}: logouts cannot be recorded there, so no session may pass.
   */
  private async findWithReadOnlyProbe(
    manager: EntityManager,
    clientSessionId: string,
  ): Promise<OidcSessionInfo | undefined> {
    const driver = this.dataSource.driver;
    const q = (name: string) => driver.escape(name);
    const columns = SESSION_COLUMNS.map((column) => `s.${q(column)}`).join(', ');
    const statement = (variable: string) =>
      `SELECT ${columns}, (@@global.read_only OR @@session.${variable}) AS ${READ_ONLY_COLUMN} ` +
      `FROM (SELECT 1) AS one LEFT JOIN ${this.runner.tableName(OidcSessionEntity)} AS s ` +
      `ON s.${q('client_session_id')} = ? AND s.${q('expires_at')} > ?`;
    type Row = RawSessionRow & { [READ_ONLY_COLUMN]?: unknown };
    let rows: Row[];
    try {
      rows = await manager.query<Row[]>(statement(this.transactionReadOnlyVariable), [
        clientSessionId,
        Date.now(),
      ]);
    } catch (error) {
      // MariaDB before 11.1 names it tx_read_only (and MySQL 8 only transaction_read_only): the
      // first lookup finds out which, once.
      if (
        errorCode(error) !== 'ER_UNKNOWN_SYSTEM_VARIABLE' ||
        this.transactionReadOnlyVariable === 'tx_read_only'
      ) {
        throw error;
      }
      this.transactionReadOnlyVariable = 'tx_read_only';
      rows = await manager.query<Row[]>(statement(this.transactionReadOnlyVariable), [
        clientSessionId,
        Date.now(),
      ]);
    }
    if (rows.some((row) => isReadOnlyAnswer(row[READ_ONLY_COLUMN]))) {
      throw new ReadOnlyStoreError();
    }
    // Exact comparison: MySQL/MariaDB collations ignore case and trailing spaces.
    const row = rows.find((candidate) => candidate.client_session_id === clientSessionId);
    return row ? rawToInfo(row) : undefined;
  }

  /**
   * The hot paths as single statements on {@link DIRECT_SQL_DRIVERS}, batched on PostgreSQL; built
   * once, `undefined` on other drivers (and before the DataSource is initialized).
   */
  private directStatements(): DirectStatements | undefined {
    if (this.statements) return this.statements;
    if (!DIRECT_SQL_DRIVERS.has(this.driverType) || !this.dataSource.isInitialized)
      return undefined;
    const driver = this.dataSource.driver;
    const sql = buildDirectSql(
      {
        escape: (name) => driver.escape(name),
        placeholder: (index) => driver.createParameter(`p${index}`, index),
        arrays: BATCH_DRIVERS.has(this.driverType),
        ...(this.notifyRemovals ? { notifyChannel: REMOVAL_CHANNEL } : {}),
        ...(this.driverType === 'postgres'
          ? { readOnlyProbe: "current_setting('transaction_read_only')" }
          : {}),
      },
      this.runner.tableName(OidcSessionEntity),
    );
    this.statements = new DirectStatements(
      sql,
      (statement, parameters) => this.runner.records(statement, parameters),
      (error, attempt) => attempt < MAX_ATTEMPTS && isRetryable(error),
      this.batchLimits,
    );
    return this.statements;
  }

  private get driverType(): string {
    return this.runner.driverType;
  }
}

function resolveBatching(
  batching: TypeOrmOidcSessionRepositoryOptions['batching'],
): StatementBatchLimits | false {
  if (batching === false) return false;
  const limits = { ...DEFAULT_BATCHING, ...batching };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(
        `TypeOrmOidcSessionRepository: batching.${name} must be a positive integer, got ${String(value)}`,
      );
    }
  }
  return limits;
}

async function deleteByIds(manager: EntityManager, ids: string[]): Promise<void> {
  for (let start = 0; start < ids.length; start += DELETE_CHUNK) {
    await manager
      .createQueryBuilder()
      .delete()
      .from(OidcSessionEntity)
      .where('client_session_id IN (:...ids)', { ids: ids.slice(start, start + DELETE_CHUNK) })
      .execute();
  }
}

function toRow(info: OidcSessionInfo): OidcSessionEntity {
  const expiresAt = info.expiresAt.getTime();
  const createdAt = info.createdAt.getTime();
  if (!Number.isFinite(expiresAt) || !Number.isFinite(createdAt)) {
    throw new InvalidRecordError('expiresAt and createdAt must be valid Dates');
  }
  const row = new OidcSessionEntity();
  row.clientSessionId = info.clientSessionId;
  row.registrationId = info.registrationId;
  row.issuer = info.issuer;
  row.clientId = info.clientId;
  row.sid = info.sid === undefined || info.sid === '' ? null : info.sid;
  row.sub = info.sub;
  row.idToken = info.idToken;
  row.expiresAt = expiresAt;
  row.createdAt = createdAt;
  for (const [field, limit] of Object.entries(LIMITS)) {
    const value = row[field as keyof typeof LIMITS];
    // Code points, as the databases count characters.
    if (value !== null && value.length > limit && [...value].length > limit) {
      throw new InvalidRecordError(`${field} is longer than ${limit} characters`);
    }
  }
  if (Buffer.byteLength(row.idToken, 'utf8') > ID_TOKEN_MAX_BYTES) {
    throw new InvalidRecordError(`idToken is longer than ${ID_TOKEN_MAX_BYTES} bytes`);
  }
  return row;
}

function toInfo(row: OidcSessionEntity): OidcSessionInfo {
  const info: OidcSessionInfo = {
    clientSessionId: row.clientSessionId,
    registrationId: row.registrationId,
    issuer: row.issuer,
    clientId: row.clientId,
    sub: row.sub,
    idToken: row.idToken,
    expiresAt: new Date(row.expiresAt),
    createdAt: new Date(row.createdAt),
  };
  if (row.sid !== null) info.sid = row.sid;
  return info;
}
