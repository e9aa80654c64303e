import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import {
  OidcLogoutEventEntity,
  type OidcLogoutEventKind,
} from '../../repositories/typeorm/oidc-logout-event.entity';
import { initializeStoreTables } from '../../repositories/typeorm/store-tables';
import {
  StatementBatcher,
  type StatementBatchLimits,
} from '../../repositories/typeorm/statement-batcher';
import {
  BATCH_DRIVERS,
  isRetryable,
  MAX_ATTEMPTS,
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
import { buildLogoutEventSql, type BeginShape, type LogoutEventSql } from './logout-event-sql';
import { GenericLogoutEventWrites } from './generic-logout-event-writes';

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
}

/** A `begin` as stored: hashed keys, epoch ms. */
interface StoredBegin {
  claim?: { key: string; expiresAt: number };
  tombstone?: { key: string; issuedAt: number; expiresAt: number };
}

/**
 * {@link OidcLogoutEventStore} on a TypeORM `DataSource` (SQLite, PostgreSQL, MySQL/MariaDB): the
 * table `oidc_logout_events` (entity {@link OidcLogoutEventEntity}, in `OIDC_LOGOUT_ENTITIES` and
 * `OIDC_LOGOUT_MIGRATIONS`), shared by every app instance on the database.
 *
 * A logout's claim and tombstone are one statement on PostgreSQL, SQLite and MySQL/MariaDB (one
 * upsert of both rows), so that a back-channel logout costs two round trips before it is answered:
 * this one and the session repository's removal (the claim is marked applied after the answer).
 * Call {@link TypeOrmOidcLogoutEventStore.init} once at startup; the module does it for you. Every
 * database failure rejects with an `OidcSessionRepositoryError` (no key or value in its message).
 *
 * @publicApi
 */
export class TypeOrmOidcLogoutEventStore extends OidcLogoutEventStore {
  private readonly runner: TypeOrmRunner;
  private readonly batchLimits: StatementBatchLimits | false;
  private initialization: Promise<void> | undefined;
  private statements: LogoutEventSql | undefined;
  private begins: StatementBatcher<StoredBegin, boolean> | undefined;
  private completions: StatementBatcher<string, void> | undefined;

  constructor(dataSource: DataSource, options: TypeOrmOidcLogoutEventStoreOptions = {}) {
    super();
    this.runner = new TypeOrmRunner(dataSource, 'OIDC logout-event store');
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
    const sql = this.sql();
    const apply = sql
      ? await this.runner.run(operation, () =>
          this.begins ? this.begins.run(stored) : this.beginOne(sql, stored),
        )
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
      const sql = this.sql();
      if (!sql) return new GenericLogoutEventWrites(this.runner, manager).complete(key);
      if (this.completions) return this.completions.run(key);
      await this.retried(() => this.runner.structured(sql.complete, [key]));
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

  /** The statements, built once; `undefined` for the generic dialect. */
  private sql(): LogoutEventSql | undefined {
    if (this.statements) return this.statements;
    // Not yet (or no longer) initialized: the runner refuses the call with a store failure.
    if (!this.runner.dataSource.isInitialized) return undefined;
    const upsert = this.upsertDialect();
    if (upsert === 'generic') return undefined;
    const driver = this.runner.dataSource.driver;
    const arrays = BATCH_DRIVERS.has(this.runner.driverType);
    const sql = buildLogoutEventSql(
      {
        escape: (name) => driver.escape(name),
        placeholder: (index) => driver.createParameter(`p${index}`, index),
        upsert,
        arrays,
      },
      this.runner.tableName(OidcLogoutEventEntity),
    );
    this.statements = sql;
    const batch = sql.batch;
    const limits = this.batchLimits;
    if (batch && limits !== false && limits.maxSize >= 2) {
      this.begins = new StatementBatcher(
        (inputs) =>
          settle(
            inputs,
            (one) => this.beginOne(sql, one),
            (all) => this.beginMany(batch.begin, all),
          ),
        limits,
      );
      this.completions = new StatementBatcher(
        (keys) =>
          settle(
            keys,
            async (key) => {
              await this.retried(() => this.runner.structured(sql.complete, [key]));
            },
            async (all) => {
              await this.retried(() => this.runner.structured(batch.complete, [[...new Set(all)]]));
              return all.map(() => undefined);
            },
          ),
        limits,
      );
    }
    return sql;
  }

  /** One `begin` as one statement; whether to apply. */
  private async beginOne(sql: LogoutEventSql, { claim, tombstone }: StoredBegin): Promise<boolean> {
    const shape: BeginShape = claim ? (tombstone ? 'both' : 'claim') : 'tombstone';
    const values: unknown[] = [];
    if (claim) values.push(claim.key, claim.expiresAt);
    if (tombstone) values.push(tombstone.key, tombstone.issuedAt, tombstone.expiresAt);
    return await this.retried(async () => {
      const now = Date.now();
      const result = await this.runner.structured<{ records?: unknown; raw?: unknown }>(
        sql.begin[shape],
        [...values, now, now, now],
      );
      if (!claim) return true;
      if (this.upsertDialect() === 'on-duplicate-key') {
        const header = result.raw as { insertId?: unknown } | undefined;
        return Number(header?.insertId ?? 0) !== 2;
      }
      const rows = Array.isArray(result.records)
        ? (result.records as Record<string, unknown>[])
        : [];
      return rows.some((row) => row.event_key === claim.key);
    });
  }

  /**
   * Several `begin`s in one statement over arrays: one row per distinct key (a claim's latest
   * expiry; a tombstone's largest issued-at and latest expiry), as in sequence. Every call naming
   * a claim key gets the same answer.
   */
  private async beginMany(statement: string, begins: readonly StoredBegin[]): Promise<boolean[]> {
    const rows = new Map<
      string,
      { kind: OidcLogoutEventKind; issuedAt: number | null; expiresAt: number }
    >();
    for (const { claim, tombstone } of begins) {
      if (claim) {
        const current = rows.get(claim.key);
        rows.set(claim.key, {
          kind: 'claim',
          issuedAt: null,
          expiresAt: Math.max(current?.expiresAt ?? claim.expiresAt, claim.expiresAt),
        });
      }
      if (tombstone) {
        const current = rows.get(tombstone.key);
        rows.set(tombstone.key, {
          kind: 'tombstone',
          issuedAt: Math.max(current?.issuedAt ?? tombstone.issuedAt, tombstone.issuedAt),
          expiresAt: Math.max(current?.expiresAt ?? tombstone.expiresAt, tombstone.expiresAt),
        });
      }
    }
    const entries = [...rows.entries()];
    const written = await this.retried(async () => {
      const now = Date.now();
      return this.runner.records<Record<string, unknown>>(statement, [
        entries.map(([key]) => key),
        entries.map(([, row]) => row.kind),
        entries.map(([, row]) => row.issuedAt),
        entries.map(([, row]) => row.expiresAt),
        now,
        now,
        now,
      ]);
    });
    const applied = new Set(written.map((row) => row.event_key));
    return begins.map(({ claim }) => !claim || applied.has(claim.key));
  }

  /** Runs `statement` again on a deadlock or a serialization failure. */
  private async retried<T>(statement: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await statement();
      } catch (error) {
        if (attempt < MAX_ATTEMPTS && isRetryable(error)) continue;
        throw error;
      }
    }
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

/** One call runs alone; several share the batch statement, or run one by one when it fails. */
async function settle<I, O>(
  inputs: readonly I[],
  single: (input: I) => Promise<O>,
  many: (inputs: readonly I[]) => Promise<O[]>,
): Promise<({ ok: true; value: O } | { ok: false; error: unknown })[]> {
  if (inputs.length > 1) {
    try {
      const values = await many(inputs);
      return values.map((value) => ({ ok: true as const, value }));
    } catch {
      // One by one below: each call gets its own result or error.
    }
  }
  const settled = await Promise.allSettled(inputs.map((input) => single(input)));
  return settled.map((result) =>
    result.status === 'fulfilled'
      ? { ok: true as const, value: result.value }
      : { ok: false as const, error: result.reason as unknown },
  );
}
