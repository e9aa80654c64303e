import { createHash } from 'node:crypto';
import type { DataSource, EntityManager, EntityTarget } from 'typeorm';
import { OidcLogoutOptionsError, OidcSessionRepositoryError } from '../../errors/oidc-logout.error';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../../interfaces/oidc-session-info.interface';
import {
  assertEpochSeconds,
  assertLogoutCriteria,
  assertLogoutEventKey,
  assertValidDate,
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
import { DirectStatements, type Removal, type TombstoneRow } from './direct-statements';
import { OidcLogoutEventEntity, type OidcLogoutEventKind } from './oidc-logout-event.entity';
import { OidcSessionEntity } from './oidc-session.entity';
import { PostgresRemovalFeed, REMOVAL_CHANNEL } from './postgres-removal-feed';
import { prepareStoredTables } from './schema-upgrade';
import { SessionLookupCache, type SessionLookupCacheOptions } from './session-lookup-cache';
import type { StatementBatchLimits } from './statement-batcher';

/** Drivers with one shared connection: a transaction would absorb concurrent callers' queries. */
const SINGLE_CONNECTION_DRIVERS = new Set([
  'better-sqlite3',
  'sqljs',
  'capacitor',
  'cordova',
  'expo',
  'nativescript',
  'react-native',
]);
/** Drivers on which `SELECT ... FOR UPDATE` (TypeORM's `pessimistic_write`) is used. */
const ROW_LOCK_DRIVERS = new Set([
  'postgres',
  'aurora-postgres',
  'cockroachdb',
  'mysql',
  'mariadb',
  'aurora-mysql',
  'mssql',
  'oracle',
]);
/** InnoDB takes gap locks under REPEATABLE READ; READ COMMITTED locks only the matching rows. */
const READ_COMMITTED_DRIVERS = new Set(['mysql', 'mariadb', 'aurora-mysql']);
/** Deadlock / serialization failure codes (MySQL/MariaDB, PostgreSQL): the transaction is retried. */
const RETRYABLE_CODES = new Set(['ER_LOCK_DEADLOCK', '40P01', '40001']);
/** Unique-constraint violation codes: PostgreSQL, MySQL/MariaDB, SQLite (better-sqlite3, sqlite3). */
const UNIQUE_VIOLATION_CODES = new Set([
  '23505',
  'ER_DUP_ENTRY',
  'SQLITE_CONSTRAINT_PRIMARYKEY',
  'SQLITE_CONSTRAINT_UNIQUE',
  'SQLITE_CONSTRAINT',
]);
/** Drivers with `INSERT ... ON CONFLICT (...) DO UPDATE` (PostgreSQL 9.5+, SQLite 3.24+). */
const ON_CONFLICT_DRIVERS = new Set([
  'postgres',
  'aurora-postgres',
  'cockroachdb',
  'better-sqlite3',
  'sqlite',
  'sqljs',
]);
/** Drivers with `INSERT ... ON DUPLICATE KEY UPDATE`. */
const ON_DUPLICATE_KEY_DRIVERS = new Set(['mysql', 'mariadb', 'aurora-mysql']);
/**
 * Drivers whose hot paths (the guard's lookup, logouts, claims, tombstones) run as SQL built once
 * per repository with bound parameters: one statement each (`DELETE ... RETURNING`,
 * `INSERT ... ON CONFLICT ... RETURNING`), no query builder, and a constant SQL text that the driver
 * prepares once (better-sqlite3's statement cache). Both compare strings exactly, as the other
 * drivers' paths do in JavaScript.
 */
const DIRECT_SQL_DRIVERS = new Set(['postgres', 'better-sqlite3']);
/** Drivers whose hot paths batch concurrent calls into one statement over arrays (`unnest`). */
const BATCH_DRIVERS = new Set(['postgres']);
/** Drivers whose guard lookup (find) also reads whether the server refuses writes. */
const READ_ONLY_PROBE_DRIVERS = new Set(['mysql', 'mariadb']);
/** Drivers with LISTEN/NOTIFY, for `lookupCache` and `notifyRemovals`. */
const NOTIFY_DRIVERS = new Set(['postgres']);
/** Default {@link TypeOrmOidcSessionRepositoryOptions.batching}. */
const DEFAULT_BATCHING: StatementBatchLimits = { maxConcurrent: 2, maxSize: 100 };
const MAX_ATTEMPTS = 3;
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
 * Options of {@link TypeOrmOidcSessionRepository}.
 *
 * @publicApi
 */
export interface TypeOrmOidcSessionRepositoryOptions {
  /**
   * PostgreSQL only: concurrent guard lookups, logout-token claims, tombstones and logout removals
   * of one kind share a statement. A call runs at once while fewer than `maxConcurrent` statements
   * of its kind are running; otherwise it waits for the next one, which takes every call that
   * waited (up to `maxSize`). Light load runs each call alone, as without batching; under load a
   * call costs a fraction of a round trip and of a commit. Every call still sees what was committed
   * before it was made. `false` runs one statement per call. Default
   * `{ maxConcurrent: 2, maxSize: 100 }`; each kind uses at most `maxConcurrent` pool connections.
   *
   * @example
   * ```ts
   * new TypeOrmOidcSessionRepository(dataSource, { batching: { maxConcurrent: 4 } });
   * ```
   */
  batching?: Partial<StatementBatchLimits> | false;
  /**
   * PostgreSQL only, off by default: the guard's answer for a session found live is remembered in
   * this process for up to `ttlMs` (and never past the session's expiry), so that most requests
   * need no query at all. A removal on this instance drops it at once; a removal on another instance
   * drops it when PostgreSQL delivers the notification of that instance's `DELETE` (`LISTEN`/
   * `NOTIFY`, milliseconds after its commit): turn `notifyRemovals` on for every instance sharing
   * the database. Nothing is remembered while the listening connection is down (it reconnects every
   * second), and everything is forgotten when it is lost. Only "live" is remembered, never "absent".
   * `true` takes the defaults (`{ ttlMs: 5000, maxEntries: 10000 }`). The listening connection is
   * one of the pool's; {@link TypeOrmOidcSessionRepository.close} (called when the Nest module is
   * destroyed) gives it back.
   *
   * @example
   * ```ts
   * new TypeOrmOidcSessionRepository(dataSource, { lookupCache: { ttlMs: 5000 } });
   * ```
   */
  lookupCache?: SessionLookupCacheOptions | boolean;
  /**
   * PostgreSQL only: every `DELETE` of a session announces its id on the channel
   * `oidc_logout_sessions_removed` (`pg_notify`, delivered at commit), for the lookup caches of
   * the instances that listen. Default: `true` when `lookupCache` is on, else `false`. An instance
   * that does not cache but shares the database with one that does must turn it on.
   */
  notifyRemovals?: boolean;
}

/**
 * {@link OidcSessionRepository} on a TypeORM `DataSource`: SQLite (better-sqlite3), PostgreSQL,
 * MySQL/MariaDB. Every app instance sharing the database sees the same revocations, and the same
 * logout events (claims of logout tokens, tombstones) in the table `oidc_logout_events`.
 *
 * The `DataSource` must know {@link OidcSessionEntity} and {@link OidcLogoutEventEntity} (add
 * `OIDC_LOGOUT_ENTITIES` to `entities`, or use `autoLoadEntities`) and their tables `oidc_sessions`
 * and `oidc_logout_events` must exist (`synchronize`, or `OIDC_LOGOUT_MIGRATIONS`). Call
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
  /** Tail of the operation queue, used on single-connection drivers only. */
  private queueTail: Promise<unknown> = Promise.resolve();
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
    return this.run('save the session', async (manager) => {
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
      return this.run('look up the session', async () => {
        const row = await direct.find(clientSessionId);
        return row ? rawToInfo(row) : undefined;
      });
    }
    if (READ_ONLY_PROBE_DRIVERS.has(this.driverType)) {
      return this.run('look up the session', (manager) =>
        this.findWithReadOnlyProbe(manager, clientSessionId),
      );
    }
    return this.run('look up the session', async (manager) => {
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
  override existsByClientSessionId(clientSessionId: string): boolean | Promise<boolean> {
    const direct = this.directStatements();
    if (!direct) return super.existsByClientSessionId(clientSessionId);
    const cache = this.cache;
    if (cache?.has(clientSessionId, Date.now())) return true;
    const epoch = cache?.epoch;
    return this.run('look up the session', async () => {
      const until = await direct.liveUntil(clientSessionId);
      if (until === undefined) return false;
      if (cache && epoch !== undefined) cache.remember(clientSessionId, until, Date.now(), epoch);
      return true;
    });
  }

  override removeByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    const direct = this.directStatements();
    if (direct) {
      return this.run('remove the session', async () => {
        const row = await direct.removeById(clientSessionId);
        if (row) this.cache?.forget([row.client_session_id]);
        return row && Number(row.expires_at) > Date.now() ? rawToInfo(row) : undefined;
      });
    }
    return this.runInTransaction('remove the session', async (manager) => {
      const rows = await this.lockRows(
        manager
          .createQueryBuilder(OidcSessionEntity, 's')
          .where('s.clientSessionId = :clientSessionId', { clientSessionId }),
      ).getMany();
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
      return await this.run('remove the sessions of a logout', async () => {
        const rows = await direct.remove(removal);
        this.cache?.forget(rows.map((row) => row.client_session_id));
        // Expired matches are deleted too, but they were already absent: not reported.
        const now = Date.now();
        return rows.filter((row) => Number(row.expires_at) > now).map(rawToInfo);
      });
    }
    return await this.runInTransaction('remove the sessions of a logout', async (manager) => {
      const query = manager
        .createQueryBuilder(OidcSessionEntity, 's')
        .where('s.issuer = :issuer', { issuer })
        .andWhere('s.clientId = :clientId', { clientId });
      if (sid) query.andWhere('s.sid = :sid', { sid });
      if (sub) query.andWhere('s.sub = :sub', { sub });
      const candidates = await this.lockRows(query).getMany();
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
    });
  }

  /**
   * Deletes expired records, then expired logout events, with one statement each; returns how many
   * rows in all (a table counts 0 if the driver does not say).
   */
  override async removeExpired(now: Date): Promise<number> {
    assertValidDate(now, 'now');
    const time = now.getTime();
    return await this.run('remove expired sessions and logout events', async (manager) => {
      let count = 0;
      for (const entity of [OidcSessionEntity, OidcLogoutEventEntity]) {
        const result = await manager
          .createQueryBuilder()
          .delete()
          .from(entity)
          .where('expires_at <= :now', { now: time })
          .execute();
        if (typeof result.affected === 'number') count += result.affected;
      }
      return count;
    });
  }

  /**
   * Claims `key` in `oidc_logout_events`, atomically across every instance sharing the database.
   * On PostgreSQL and SQLite, one `INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`; on
   * the other databases an `INSERT` (the primary key refuses a second one), and when the key is
   * present, one conditional `UPDATE` that takes it over only if it expired, then a read of its
   * state: `kind` `'claim'` (not applied: apply it) or `'applied'` (a replay).
   */
  override async claimLogoutEvent(key: string, expiresAt: Date): Promise<boolean> {
    assertLogoutEventKey(key);
    assertValidDate(expiresAt, 'expiresAt');
    const eventKey = storedEventKey('claim', key);
    const until = expiresAt.getTime();
    const direct = this.directStatements();
    if (direct) {
      // One statement: returns the row unless it is live and applied.
      return await this.run('claim a logout event', () => direct.claim(eventKey, until));
    }
    return await this.run('claim a logout event', async (manager) => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        try {
          await manager
            .createQueryBuilder()
            .insert()
            .into(OidcLogoutEventEntity)
            .values({ eventKey, kind: 'claim', issuedAt: null, expiresAt: until })
            .updateEntity(false)
            .execute();
          return true;
        } catch (error) {
          if (!isUniqueViolation(error) && !isRetryable(error)) throw error;
        }
        // Present already. A single UPDATE is atomic on every database: of concurrent callers,
        // only the first sees the row still expired.
        const now = Date.now();
        const taken = await manager
          .createQueryBuilder()
          .update(OidcLogoutEventEntity)
          .set({ kind: 'claim', issuedAt: null, expiresAt: until })
          .where('event_key = :eventKey', { eventKey })
          .andWhere('expires_at <= :now', { now })
          .execute();
        if (taken.affected === 1) return true;
        const current = await manager
          .createQueryBuilder(OidcLogoutEventEntity, 'e')
          .where('e.eventKey = :eventKey', { eventKey })
          .getOne();
        if (current?.eventKey !== eventKey || current.expiresAt <= now) {
          // Deleted (by removeExpired) or expired in between: claim again.
          continue;
        }
        if (current.kind === 'applied') return false;
        // Claimed, not applied (a failed or concurrent application): apply it again, and keep
        // the claim until the later expiry.
        await manager
          .createQueryBuilder()
          .update(OidcLogoutEventEntity)
          .set({ expiresAt: until })
          .where('event_key = :eventKey', { eventKey })
          .andWhere('kind = :kind', { kind: 'claim' })
          .andWhere('expires_at < :until', { until })
          .execute();
        return true;
      }
      throw new ContentionError('the key stayed contended');
    });
  }

  /** Marks the claim applied (`kind` `'applied'`): one `UPDATE` of a row still `'claim'`. */
  override async completeLogoutEvent(key: string): Promise<void> {
    assertLogoutEventKey(key);
    const eventKey = storedEventKey('claim', key);
    const direct = this.directStatements();
    if (direct) {
      await this.run('complete a logout event', () => direct.complete(eventKey));
      return;
    }
    await this.run('complete a logout event', async (manager) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await manager
            .createQueryBuilder()
            .update(OidcLogoutEventEntity)
            .set({ kind: 'applied' })
            .where('event_key = :eventKey', { eventKey })
            .andWhere('kind = :kind', { kind: 'claim' })
            .execute();
          return;
        } catch (error) {
          if (attempt < MAX_ATTEMPTS && isRetryable(error)) continue;
          throw error;
        }
      }
    });
  }

  /**
   * Upserts the tombstone with one statement where the database has one (`ON CONFLICT DO UPDATE`,
   * `ON DUPLICATE KEY UPDATE`) that keeps the larger `issuedAt` and the later `expiresAt` of a live
   * row; elsewhere, a transaction that locks the row.
   */
  override async saveLogoutTombstone(
    key: string,
    issuedAt: number,
    expiresAt: Date,
  ): Promise<void> {
    assertLogoutEventKey(key);
    assertEpochSeconds(issuedAt);
    assertValidDate(expiresAt, 'expiresAt');
    const row = {
      eventKey: storedEventKey('tombstone', key),
      issuedAt,
      expiresAt: expiresAt.getTime(),
    };
    const operation = 'save a logout tombstone';
    const dialect = this.upsertDialect();
    const direct = dialect === 'on-conflict' ? this.directStatements() : undefined;
    if (direct) {
      await this.run(operation, () => direct.tombstone(row));
      return;
    }
    if (dialect === 'generic') {
      await this.runInTransaction(
        operation,
        (manager) => this.upsertTombstoneLocked(manager, row),
        {
          retryUniqueViolation: true,
        },
      );
      return;
    }
    await this.run(operation, async (manager) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.upsertTombstoneStatement(manager, dialect, row);
          return;
        } catch (error) {
          if (attempt < MAX_ATTEMPTS && isRetryable(error)) continue;
          throw error;
        }
      }
    });
  }

  override async findLogoutTombstones(keys: readonly string[]): Promise<Map<string, number>> {
    for (const key of keys) assertLogoutEventKey(key);
    const found = new Map<string, number>();
    if (keys.length === 0) return found;
    const byStoredKey = new Map<string, string>();
    for (const key of keys) byStoredKey.set(storedEventKey('tombstone', key), key);
    const storedKeys = [...byStoredKey.keys()];
    return await this.run('look up logout tombstones', async (manager) => {
      const now = Date.now();
      for (let start = 0; start < storedKeys.length; start += DELETE_CHUNK) {
        const rows = await manager
          .createQueryBuilder(OidcLogoutEventEntity, 'e')
          .where('e.eventKey IN (:...keys)', {
            keys: storedKeys.slice(start, start + DELETE_CHUNK),
          })
          .andWhere('e.kind = :kind', { kind: 'tombstone' })
          .andWhere('e.expiresAt > :now', { now })
          .getMany();
        for (const row of rows) {
          const key = byStoredKey.get(row.eventKey);
          if (key !== undefined && row.issuedAt !== null) found.set(key, row.issuedAt);
        }
      }
      return found;
    });
  }

  private async initialize(): Promise<void> {
    if (!this.dataSource.isInitialized) {
      try {
        await this.dataSource.initialize();
      } catch (error) {
        throw new OidcSessionRepositoryError(
          `OIDC session repository could not initialize its TypeORM DataSource (${describeError(error)})`,
          { cause: error },
        );
      }
    }
    const entities = { OidcSessionEntity, OidcLogoutEventEntity };
    const unknown = Object.entries(entities)
      .filter(([, entity]) => !this.dataSource.hasMetadata(entity))
      .map(([name]) => name);
    if (unknown.length > 0) {
      throw new OidcLogoutOptionsError(
        `The TypeORM DataSource (type '${this.dataSource.options.type}') used by the OIDC session ` +
          `repository does not know ${unknown.join(' and ')}: add OIDC_LOGOUT_ENTITIES ` +
          "(OidcSessionEntity and OidcLogoutEventEntity) to the DataSource's `entities` (or use " +
          '`autoLoadEntities: true` with @nestjs/typeorm and TypeOrmModule.forFeature(' +
          'OIDC_LOGOUT_ENTITIES)), and create their tables with `synchronize` or ' +
          'OIDC_LOGOUT_MIGRATIONS.',
      );
    }
    for (const [name, entity] of Object.entries(entities)) {
      const tablePath = this.dataSource.getMetadata(entity).tablePath;
      const exists = await this.run('check its tables', async () => {
        const queryRunner = this.dataSource.createQueryRunner();
        try {
          return await queryRunner.hasTable(tablePath);
        } finally {
          await queryRunner.release();
        }
      });
      if (!exists) {
        throw new OidcLogoutOptionsError(
          `The table '${tablePath}' of ${name} does not exist: run OIDC_LOGOUT_MIGRATIONS (add them ` +
            "to the DataSource's `migrations` and run them; a database migrated before " +
            'oidc_logout_events existed runs only the new one) or enable `synchronize`.',
        );
      }
    }
    // MySQL/MariaDB charsets checked; sids stored in clear by an earlier version hashed.
    await prepareStoredTables(
      this.dataSource,
      (sql, parameters) =>
        this.run('prepare its tables', (manager) => manager.query(sql, parameters)),
      {
        oidc_sessions: this.dataSource.getMetadata(OidcSessionEntity).tablePath,
        oidc_logout_events: this.dataSource.getMetadata(OidcLogoutEventEntity).tablePath,
      },
    );
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
      `FROM (SELECT 1) AS one LEFT JOIN ${this.tableName(OidcSessionEntity)} AS s ` +
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

  /** `INSERT ... ON CONFLICT DO UPDATE` / `ON DUPLICATE KEY UPDATE` of a tombstone. */
  private async upsertTombstoneStatement(
    manager: EntityManager,
    dialect: 'on-conflict' | 'on-duplicate-key',
    row: TombstoneRow,
  ): Promise<void> {
    const driver = this.dataSource.driver;
    const q = (name: string) => driver.escape(name);
    const table = this.tableName(OidcLogoutEventEntity);
    const [key, kind, issued, expires] = ['event_key', 'kind', 'issued_at', 'expires_at'].map(q);
    const insert =
      `INSERT INTO ${table} ${dialect === 'on-conflict' ? 'AS e ' : ''}` +
      `(${key}, ${kind}, ${issued}, ${expires}) VALUES (:eventKey, 'tombstone', :issuedAt, :expiresAt)`;
    // A live tombstone keeps the larger issued_at and the later expires_at; anything else (an
    // expired row) is replaced. MySQL evaluates assignments left to right with the new values, so
    // `kind` and `expires_at`, which the conditions read, are assigned after what reads them.
    const sql =
      dialect === 'on-conflict'
        ? `${insert} ON CONFLICT (${key}) DO UPDATE SET ` +
          `${issued} = CASE WHEN e.${kind} = 'tombstone' AND e.${expires} > :now AND e.${issued} > excluded.${issued} THEN e.${issued} ELSE excluded.${issued} END, ` +
          `${expires} = CASE WHEN e.${kind} = 'tombstone' AND e.${expires} > :now AND e.${expires} > excluded.${expires} THEN e.${expires} ELSE excluded.${expires} END, ` +
          `${kind} = 'tombstone'`
        : `${insert} ON DUPLICATE KEY UPDATE ` +
          `${issued} = IF(${kind} = 'tombstone' AND ${expires} > :now AND ${issued} > VALUES(${issued}), ${issued}, VALUES(${issued})), ` +
          `${expires} = IF(${kind} = 'tombstone' AND ${expires} > :now AND ${expires} > VALUES(${expires}), ${expires}, VALUES(${expires})), ` +
          `${kind} = 'tombstone'`;
    // TypeORM 0.3 takes a third argument (native parameters) that 1.x dropped: pass it to both.
    const escape = driver.escapeQueryWithParameters.bind(driver) as (
      sql: string,
      parameters: Record<string, unknown>,
      nativeParameters: Record<string, unknown>,
    ) => [string, unknown[]];
    const [query, parameters] = escape(sql, { ...row, now: Date.now() }, {});
    await manager.query(query, parameters);
  }

  /** The portable tombstone upsert, in a transaction: lock the row, then update or insert it. */
  private async upsertTombstoneLocked(manager: EntityManager, row: TombstoneRow): Promise<void> {
    const rows = await this.lockRows(
      manager
        .createQueryBuilder(OidcLogoutEventEntity, 'e')
        .where('e.eventKey = :eventKey', { eventKey: row.eventKey }),
    ).getMany();
    const current = rows.find((candidate) => candidate.eventKey === row.eventKey);
    if (!current) {
      // A concurrent insert makes this fail with a unique violation: the transaction is retried.
      await manager
        .createQueryBuilder()
        .insert()
        .into(OidcLogoutEventEntity)
        .values({ ...row, kind: 'tombstone' })
        .updateEntity(false)
        .execute();
      return;
    }
    const live = current.kind === 'tombstone' && current.expiresAt > Date.now();
    await manager
      .createQueryBuilder()
      .update(OidcLogoutEventEntity)
      .set({
        kind: 'tombstone',
        issuedAt: live ? Math.max(current.issuedAt ?? row.issuedAt, row.issuedAt) : row.issuedAt,
        expiresAt: live ? Math.max(current.expiresAt, row.expiresAt) : row.expiresAt,
      })
      .where('event_key = :eventKey', { eventKey: row.eventKey })
      .execute();
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
      this.tableName(OidcSessionEntity),
      this.tableName(OidcLogoutEventEntity),
    );
    this.statements = new DirectStatements(
      sql,
      (statement, parameters) => this.records(this.dataSource.manager, statement, parameters),
      (error, attempt) => attempt < MAX_ATTEMPTS && isRetryable(error),
      this.batchLimits,
    );
    return this.statements;
  }

  /** The rows a statement returns (`RETURNING`), whatever the statement and the driver. */
  private async records<T = unknown>(
    manager: EntityManager,
    sql: string,
    parameters: unknown[],
  ): Promise<T[]> {
    const runner = manager.queryRunner ?? this.dataSource.createQueryRunner();
    try {
      const result = (await runner.query(sql, parameters, true)) as { records?: T[] };
      return result.records ?? [];
    } finally {
      if (!manager.queryRunner) await runner.release();
    }
  }

  /** The escaped (schema-qualified) table name of an entity. */
  private tableName(entity: EntityTarget<unknown>): string {
    return this.dataSource
      .getMetadata(entity)
      .tablePath.split('.')
      .map((part) => this.dataSource.driver.escape(part))
      .join('.');
  }

  /** How this driver upserts a tombstone. @internal (tests force `'generic'`) */
  protected upsertDialect(): 'on-conflict' | 'on-duplicate-key' | 'generic' {
    const type = this.driverType;
    if (ON_CONFLICT_DRIVERS.has(type)) return 'on-conflict';
    if (ON_DUPLICATE_KEY_DRIVERS.has(type)) return 'on-duplicate-key';
    return 'generic';
  }

  /** Runs `work` on the DataSource's manager, serialized on single-connection drivers. */
  private run<T>(operation: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.assertReady(operation);
      try {
        return await work(this.dataSource.manager);
      } catch (error) {
        throw wrap(operation, error);
      }
    });
  }

  /** Runs `work` in a transaction, retried on deadlock, serialized on single-connection drivers. */
  private runInTransaction<T>(
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
          throw wrap(operation, error);
        }
      }
    });
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    if (!SINGLE_CONNECTION_DRIVERS.has(this.driverType)) return task();
    const result = this.queueTail.then(task, task);
    this.queueTail = result.catch(() => undefined);
    return result;
  }

  private lockRows<Q extends { setLock(mode: 'pessimistic_write'): Q }>(query: Q): Q {
    return ROW_LOCK_DRIVERS.has(this.driverType) ? query.setLock('pessimistic_write') : query;
  }

  private assertReady(operation: string): void {
    if (!this.dataSource.isInitialized) {
      throw new OidcSessionRepositoryError(
        `OIDC session repository could not ${operation}: its TypeORM DataSource is not initialized ` +
          '(or was destroyed)',
      );
    }
  }

  private get driverType(): string {
    return String(this.dataSource.options.type);
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

/** A record the columns cannot hold; the message names the field, never its value. */
class InvalidRecordError extends Error {}

/** A claim that lost every attempt to concurrent changes of its row. */
class ContentionError extends Error {}

/**
 * The stored key of a logout event: SHA-256 (lowercase hex) of its kind and key, so that claims and
 * tombstones never collide and comparisons are exact under any collation. UTF-16 input keeps every
 * string distinct (lone surrogates included).
 */
function storedEventKey(kind: OidcLogoutEventKind, key: string): string {
  return createHash('sha256').update(`${kind}:${key}`, 'utf16le').digest('hex');
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

function wrap(operation: string, error: unknown): OidcSessionRepositoryError {
  if (error instanceof OidcSessionRepositoryError) return error;
  if (error instanceof InvalidRecordError || error instanceof ContentionError) {
    // Our own validation: its message names the field, never the value.
    return new OidcSessionRepositoryError(
      `OIDC session repository could not ${operation}: ${error.message}`,
      { cause: error },
    );
  }
  return new OidcSessionRepositoryError(
    `OIDC session repository could not ${operation} (${describeError(error)})`,
    { cause: withoutQueryParameters(error) },
  );
}

/**
 * The driver error to keep as `cause`, without TypeORM's `query` and `parameters`: those quote the
 * values written (ID tokens), and a cause is often logged whole.
 */
function withoutQueryParameters(error: unknown): unknown {
  if (!(error instanceof Error) || !('parameters' in error || 'query' in error)) return error;
  const copy = new Error(error.message);
  copy.name = error.name;
  const code = errorCode(error);
  if (code !== undefined) Object.assign(copy, { code });
  return copy;
}

/** The error's class and code: never its message, which may quote values (session ids, tokens). */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const code = errorCode(error);
  return code ? `${error.name}, code ${code}` : error.name;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, driverError } = error as { code?: unknown; driverError?: unknown };
  if (typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code)) return code;
  return driverError && driverError !== error ? errorCode(driverError) : undefined;
}

function isRetryable(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && RETRYABLE_CODES.has(code);
}

function isUniqueViolation(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && UNIQUE_VIOLATION_CODES.has(code);
}
