import type { DataSource } from 'typeorm';
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
  COMPLETING_REMOVAL,
  type CompletingRemoval,
  type CompletionTarget,
} from '../joint-completion';
import {
  buildCompletingRemovalSql,
  buildDirectSql,
  type RawSessionRow,
  rawToInfo,
  type SqlDialect,
} from './direct-sql';
import { DirectStatements, type Removal } from './direct-statements';
import { CompletingRemovals } from './completing-removals';
import { removalOf } from './removal-statements';
import {
  deleteExpiredSessions,
  findLiveSession,
  removeLockedMatches,
  removeLockedSession,
  upsertSession,
} from './entity-session-queries';
import { MySqlSessionStatements } from './mysql-session-statements';
import { OidcSessionEntity } from './oidc-session.entity';
import { PostgresRemovalFeed, REMOVAL_CHANNEL } from './postgres-removal-feed';
import { SessionLookupCache } from './session-lookup-cache';
import type { StatementBatchLimits } from './statement-batcher';
import { initializeStoreTables } from './store-tables';
import {
  resolveBatching,
  type TypeOrmOidcSessionRepositoryOptions,
} from './typeorm-oidc-session-repository.options';
import {
  BATCH_DRIVERS,
  COMPLETING_DRIVERS,
  DIRECT_SQL_DRIVERS,
  isRetryable,
  MAX_ATTEMPTS,
  NOTIFY_DRIVERS,
  READ_ONLY_PROBE_DRIVERS,
  TypeOrmRunner,
} from './typeorm-store-support';

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
  /** How the repository talks to its DataSource. */
  private readonly runner: TypeOrmRunner;
  /** The SQL of the hot paths, built on first use (DIRECT_SQL_DRIVERS only). */
  private statements: DirectStatements | undefined;
  /** The removals that complete claims (see `COMPLETING_REMOVAL`). */
  private readonly completing = new CompletingRemovals((eventsTable) =>
    this.directStatements()?.completing(
      buildCompletingRemovalSql(
        this.sqlDialect(),
        this.runner.tableName(OidcSessionEntity),
        eventsTable,
      ),
    ),
  );
  /** MySQL/MariaDB: the guard's lookup with its read-only probe, MariaDB's removal. */
  private readonly mysql: MySqlSessionStatements | undefined;

  private readonly batchLimits: StatementBatchLimits | false;
  private readonly cache: SessionLookupCache | undefined;
  private readonly notifyRemovals: boolean;
  private feed: PostgresRemovalFeed | undefined;

  constructor(
    private readonly dataSource: DataSource,
    options: TypeOrmOidcSessionRepositoryOptions = {},
  ) {
    super();
    this.runner = new TypeOrmRunner(dataSource, 'OIDC session repository', options);
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
    this.mysql = READ_ONLY_PROBE_DRIVERS.has(this.driverType)
      ? new MySqlSessionStatements(this.runner)
      : undefined;
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
    return this.runner.run('save the session', (manager) => upsertSession(manager, info));
  }

  override findByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    const direct = this.directStatements();
    if (direct) {
      return this.runner.run('look up the session', async () => {
        const row = await direct.find(clientSessionId);
        return row ? rawToInfo(row) : undefined;
      });
    }
    const mysql = this.mysql;
    if (mysql) {
      return this.runner.run('look up the session', (manager) =>
        mysql.find(manager, clientSessionId),
      );
    }
    return this.runner.run('look up the session', (manager) =>
      findLiveSession(manager, clientSessionId),
    );
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
    return this.runner.runInTransaction('remove the session', (manager) =>
      removeLockedSession(this.runner, manager, clientSessionId),
    );
  }

  override async removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    assertLogoutCriteria(criteria);
    const direct = this.directStatements();
    if (direct) {
      // One statement: atomic, and a concurrent logout of the same rows gets none of them.
      return await this.removeDirectly((removal) => direct.remove(removal), removalOf(criteria));
    }
    const mysql = this.mysql;
    if (mysql?.deleteReturning) {
      return await this.runner.run('remove the sessions of a logout', () =>
        mysql.removeReturning(criteria),
      );
    }
    return await this.runner.runInTransaction('remove the sessions of a logout', (manager) =>
      removeLockedMatches(this.runner, manager, criteria),
    );
  }

  /**
   * On PostgreSQL, with the logout-event store of the same DataSource (`target`): the removal of a
   * logout's sessions that marks its claim applied in the same statement (see
   * `joint-completion.ts`). `undefined` on other drivers, on another DataSource, before the
   * DataSource is initialized, and when a subclass overrides `removeByLogoutToken`.
   *
   * @internal
   */
  [COMPLETING_REMOVAL](target: CompletionTarget): CompletingRemoval | undefined {
    if (
      target.database !== this.dataSource ||
      !COMPLETING_DRIVERS.has(this.driverType) ||
      this.removeByLogoutToken !== TypeOrmOidcSessionRepository.prototype.removeByLogoutToken
    ) {
      return undefined;
    }
    return this.completing.offer(target, (remove, removal) => this.removeDirectly(remove, removal));
  }

  /** Runs a direct removal; answers the live sessions it removed. */
  private async removeDirectly(
    remove: (removal: Removal) => Promise<RawSessionRow[]>,
    removal: Removal,
  ): Promise<OidcSessionInfo[]> {
    return await this.runner.run('remove the sessions of a logout', async () => {
      const rows = await remove(removal);
      this.cache?.forget(rows.map((row) => row.client_session_id));
      // Expired matches are deleted too, but they were already absent: not reported.
      const now = Date.now();
      return rows.filter((row) => Number(row.expires_at) > now).map(rawToInfo);
    });
  }

  /** Deletes the expired records with one statement; answers how many (0 if the driver does not say). @internal */
  async [EXPIRE_ENTRIES](now: Date): Promise<number> {
    assertValidDate(now, 'now');
    const time = now.getTime();
    return await this.runner.run('remove expired sessions', (manager) =>
      deleteExpiredSessions(manager, time),
    );
  }

  private async initialize(): Promise<void> {
    await initializeStoreTables(this.runner, 'OIDC session repository', [
      { name: 'OidcSessionEntity', table: 'oidc_sessions', entity: OidcSessionEntity },
    ]);
    await this.mysql?.detectServer();
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
   * The hot paths as single statements on {@link DIRECT_SQL_DRIVERS}, batched on PostgreSQL; built
   * once, `undefined` on other drivers (and before the DataSource is initialized).
   */
  private directStatements(): DirectStatements | undefined {
    if (this.statements) return this.statements;
    if (!DIRECT_SQL_DRIVERS.has(this.driverType) || !this.dataSource.isInitialized)
      return undefined;
    const sql = buildDirectSql(this.sqlDialect(), this.runner.tableName(OidcSessionEntity));
    this.statements = new DirectStatements(
      sql,
      (statement, parameters) => this.runner.records(statement, parameters),
      (error, attempt) => attempt < MAX_ATTEMPTS && isRetryable(error),
      this.batchLimits,
    );
    return this.statements;
  }

  /** How the direct statements are written on this DataSource's driver. */
  private sqlDialect(): SqlDialect {
    const driver = this.dataSource.driver;
    return {
      escape: (name) => driver.escape(name),
      placeholder: (index) => driver.createParameter(`p${index}`, index),
      arrays: BATCH_DRIVERS.has(this.driverType),
      ...(this.notifyRemovals ? { notifyChannel: REMOVAL_CHANNEL } : {}),
      ...(this.driverType === 'postgres'
        ? { readOnlyProbe: "current_setting('transaction_read_only')" }
        : {}),
    };
  }

  private get driverType(): string {
    return this.runner.driverType;
  }
}
