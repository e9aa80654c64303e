import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { COMPLETION_TARGET, type CompletionTarget } from '../../repositories/joint-completion';
import { OidcLogoutEventEntity } from '../../repositories/typeorm/oidc-logout-event.entity';
import { initializeStoreTables } from '../../repositories/typeorm/store-tables';
import type { StatementBatchLimits } from '../../repositories/typeorm/statement-batcher';
import {
  BATCH_DRIVERS,
  COMPLETING_DRIVERS,
  ON_CONFLICT_DRIVERS,
  ON_DUPLICATE_KEY_DRIVERS,
  TypeOrmRunner,
} from '../../repositories/typeorm/typeorm-store-support';
import {
  assertLogoutEventBegin,
  assertLogoutEventKey,
  assertValidDate,
  EXPIRE_ENTRIES,
  OidcLogoutEventStore,
  type OidcLogoutEventBegin,
  type OidcLogoutEventOutcome,
} from '../oidc-logout-event.store';
import { DirectLogoutEventWrites, type StoredBegin } from './direct-logout-event-writes';
import { GenericLogoutEventWrites } from './generic-logout-event-writes';
import { buildLogoutEventSql } from './logout-event-sql';

/**
 * Options of {@link TypeOrmOidcLogoutEventStore}.
 *
 * @publicApi
 */
export interface TypeOrmOidcLogoutEventStoreOptions {
  /**
   * PostgreSQL only: concurrent `begin`s (and completions) share one statement, as the session
   * repository's calls do (see `TypeOrmOidcSessionRepositoryOptions.batching`). `false` runs one
   * statement per call. Default `{ maxConcurrent: 2, maxSize: 100 }`.
   */
  batching?: Partial<StatementBatchLimits> | false;
  /** PostgreSQL only: see `TypeOrmOidcSessionRepositoryOptions.preparedStatements`. */
  preparedStatements?: boolean;
}

/**
 * {@link OidcLogoutEventStore} on a TypeORM `DataSource` (SQLite, PostgreSQL, MySQL/MariaDB): the
 * table `oidc_logout_events` (entity {@link OidcLogoutEventEntity}, in `OIDC_LOGOUT_ENTITIES` and
 * `OIDC_LOGOUT_MIGRATIONS`), shared by every app instance on the database.
 *
 * A logout's claim and tombstone are one statement on PostgreSQL, SQLite and MySQL/MariaDB (one
 * upsert of both rows), so that a back-channel logout costs two round trips before it is answered:
 * this one and the session repository's removal. The claim is marked applied after the answer; on
 * PostgreSQL, with `TypeOrmOidcSessionRepository` on the same DataSource, by the removal's own
 * statement instead (unless a subclass overrides `complete`).
 * Call {@link TypeOrmOidcLogoutEventStore.init} once at startup; the module does it for you. Every
 * database failure rejects with an `OidcSessionRepositoryError` (no key or value in its message).
 *
 * @publicApi
 */
export class TypeOrmOidcLogoutEventStore extends OidcLogoutEventStore {
  private readonly runner: TypeOrmRunner;
  private readonly batchLimits: StatementBatchLimits | false;
  private initialization: Promise<void> | undefined;
  /** The one-statement writes, built on first use; `undefined` for the generic dialect. */
  private direct: DirectLogoutEventWrites | undefined;
  private target: CompletionTarget | undefined;

  constructor(dataSource: DataSource, options: TypeOrmOidcLogoutEventStoreOptions = {}) {
    super();
    this.runner = new TypeOrmRunner(dataSource, 'OIDC logout-event store', options);
    this.batchLimits =
      options.batching === false ? false : { maxConcurrent: 2, maxSize: 100, ...options.batching };
  }

  /**
   * Initializes the `DataSource` when it is not yet, then checks that it knows
   * {@link OidcLogoutEventEntity} and that its table exists (an `OidcLogoutOptionsError` explaining
   * the fix otherwise). Idempotent.
   */
  init(): Promise<void> {
    this.initialization ??= initializeStoreTables(this.runner, 'OIDC logout-event store', [
      { name: 'OidcLogoutEventEntity', table: 'oidc_logout_events', entity: OidcLogoutEventEntity },
    ]).catch((error: unknown) => {
      this.initialization = undefined;
      throw error;
    });
    return this.initialization;
  }

  override async begin(event: OidcLogoutEventBegin): Promise<OidcLogoutEventOutcome> {
    assertLogoutEventBegin(event);
    const { claim, tombstone } = event;
    if (!claim && !tombstone) return 'apply';
    const stored: StoredBegin = {};
    if (claim) {
      stored.claim = { key: storedEventKey('claim', claim.key), expiresAt: +claim.expiresAt };
    }
    if (tombstone) {
      stored.tombstone = {
        key: storedEventKey('tombstone', tombstone.key),
        issuedAt: tombstone.issuedAt,
        expiresAt: +tombstone.expiresAt,
      };
    }
    const operation = 'record a logout event';
    const direct = this.directWrites();
    const apply = direct
      ? await this.runner.run(operation, () => direct.begin(stored))
      : await this.runner.runInTransaction(
          operation,
          (manager) => new GenericLogoutEventWrites(this.runner, manager).begin(stored),
          { retryUniqueViolation: true },
        );
    return apply ? 'apply' : 'replay';
  }

  override async complete(claimKey: string): Promise<void> {
    assertLogoutEventKey(claimKey);
    const key = storedEventKey('claim', claimKey);
    await this.runner.run('complete a logout event', async (manager) => {
      const direct = this.directWrites();
      if (!direct) return new GenericLogoutEventWrites(this.runner, manager).complete(key);
      return direct.complete(key);
    });
  }

  override async findTombstones(keys: readonly string[]): Promise<Map<string, number>> {
    for (const key of keys) assertLogoutEventKey(key);
    const found = new Map<string, number>();
    if (keys.length === 0) return found;
    const byStoredKey = new Map<string, string>();
    for (const key of keys) byStoredKey.set(storedEventKey('tombstone', key), key);
    const storedKeys = [...byStoredKey.keys()];
    return await this.runner.run('look up logout tombstones', async (manager) => {
      const now = Date.now();
      for (let start = 0; start < storedKeys.length; start += KEYS_PER_STATEMENT) {
        const rows = await manager
          .createQueryBuilder(OidcLogoutEventEntity, 'e')
          .where('e.eventKey IN (:...keys)', {
            keys: storedKeys.slice(start, start + KEYS_PER_STATEMENT),
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

  /**
   * On PostgreSQL: where the session repository of the same DataSource marks a claim applied in
   * the statement that removes the logout's sessions (see `joint-completion.ts`), instead of a
   * `complete` of its own. `undefined` on other drivers, before the DataSource is initialized, and
   * when a subclass overrides `complete`.
   *
   * @internal
   */
  [COMPLETION_TARGET](): CompletionTarget | undefined {
    if (this.complete !== TypeOrmOidcLogoutEventStore.prototype.complete) return undefined;
    if (this.target) return this.target;
    if (!COMPLETING_DRIVERS.has(this.runner.driverType) || !this.directWrites()) return undefined;
    this.target = {
      database: this.runner.dataSource,
      table: this.runner.tableName(OidcLogoutEventEntity),
      storedClaimKey: (key) => {
        assertLogoutEventKey(key);
        return storedEventKey('claim', key);
      },
    };
    return this.target;
  }

  /** Deletes the expired claims and tombstones; answers how many. @internal */
  async [EXPIRE_ENTRIES](now: Date): Promise<number> {
    assertValidDate(now, 'now');
    return await this.runner.run('remove expired logout events', async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .delete()
        .from(OidcLogoutEventEntity)
        .where('expires_at <= :now', { now: now.getTime() })
        .execute();
      return typeof result.affected === 'number' ? result.affected : 0;
    });
  }

  /** How this driver upserts. @internal (tests force `'generic'`) */
  protected upsertDialect(): 'on-conflict' | 'on-duplicate-key' | 'generic' {
    const type = this.runner.driverType;
    if (ON_CONFLICT_DRIVERS.has(type)) return 'on-conflict';
    if (ON_DUPLICATE_KEY_DRIVERS.has(type)) return 'on-duplicate-key';
    return 'generic';
  }

  /** The one-statement writes, built once; `undefined` for the generic dialect. */
  private directWrites(): DirectLogoutEventWrites | undefined {
    if (this.direct) return this.direct;
    // Not yet (or no longer) initialized: the runner refuses the call with a store failure.
    if (!this.runner.dataSource.isInitialized) return undefined;
    const upsert = this.upsertDialect();
    if (upsert === 'generic') return undefined;
    const driver = this.runner.dataSource.driver;
    const sql = buildLogoutEventSql(
      {
        escape: (name) => driver.escape(name),
        placeholder: (index) => driver.createParameter(`p${index}`, index),
        upsert,
        arrays: BATCH_DRIVERS.has(this.runner.driverType),
      },
      this.runner.tableName(OidcLogoutEventEntity),
    );
    this.direct = new DirectLogoutEventWrites(this.runner, sql, upsert, this.batchLimits);
    return this.direct;
  }
}

/** Keys per `SELECT ... IN (...)` statement. */
const KEYS_PER_STATEMENT = 500;

/**
 * The stored key of a logout event: SHA-256 (lowercase hex) of its kind and key, so that claims and
 * tombstones never collide and comparisons are exact under any collation. UTF-16 input keeps every
 * string distinct (lone surrogates included).
 *
 * @internal
 */
export function storedEventKey(kind: 'claim' | 'tombstone', key: string): string {
  return createHash('sha256').update(`${kind}:${key}`, 'utf16le').digest('hex');
}
