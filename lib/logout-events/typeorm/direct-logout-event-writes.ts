import type { OidcLogoutEventKind } from '../../repositories/typeorm/oidc-logout-event.entity';
import {
  settleBatch,
  StatementBatcher,
  type StatementBatchLimits,
} from '../../repositories/typeorm/statement-batcher';
import {
  isRetryable,
  MAX_ATTEMPTS,
  type TypeOrmRunner,
} from '../../repositories/typeorm/typeorm-store-support';
import type { BeginShape, LogoutEventSql } from './logout-event-sql';

/** A `begin` as stored: hashed keys, epoch ms. @internal */
export interface StoredBegin {
  claim?: { key: string; expiresAt: number };
  tombstone?: { key: string; issuedAt: number; expiresAt: number };
}

/**
 * The logout-event writes on databases with a one-statement upsert ({@link LogoutEventSql}:
 * PostgreSQL, SQLite, MySQL/MariaDB): a `begin` is one statement, a completion one `UPDATE`, each
 * run again on a deadlock or a serialization failure. On PostgreSQL, concurrent calls of one kind
 * share a statement over arrays (`batching`); a batch whose statement fails runs again call by
 * call, so that one call's failure is that call's alone.
 *
 * @internal
 */
export class DirectLogoutEventWrites {
  private readonly begins: StatementBatcher<StoredBegin, boolean> | undefined;
  private readonly completions: StatementBatcher<string, void> | undefined;

  constructor(
    private readonly runner: TypeOrmRunner,
    private readonly sql: LogoutEventSql,
    private readonly upsert: 'on-conflict' | 'on-duplicate-key',
    limits: StatementBatchLimits | false,
  ) {
    const batch = sql.batch;
    if (!batch || limits === false || limits.maxSize < 2) return;
    this.begins = new StatementBatcher(
      (inputs) =>
        settleBatch(
          inputs,
          (one) => this.beginOne(one),
          (all) => this.beginMany(batch.begin, all),
        ),
      limits,
    );
    this.completions = new StatementBatcher(
      (keys) =>
        settleBatch(
          keys,
          (key) => this.completeOne(key),
          async (all) => {
            await this.retried(() => this.runner.structured(batch.complete, [[...new Set(all)]]));
            return all.map(() => undefined);
          },
        ),
      limits,
    );
  }

  /** Whether to apply the logout (`false` only for a live, applied claim). */
  begin(stored: StoredBegin): Promise<boolean> {
    return this.begins ? this.begins.run(stored) : this.beginOne(stored);
  }

  /** Marks the claim of a stored key applied. */
  complete(key: string): Promise<void> {
    return this.completions ? this.completions.run(key) : this.completeOne(key);
  }

  private async completeOne(key: string): Promise<void> {
    await this.retried(() => this.runner.structured(this.sql.complete, [key]));
  }

  /** One `begin` as one statement; whether to apply. */
  private async beginOne({ claim, tombstone }: StoredBegin): Promise<boolean> {
    const shape: BeginShape = claim ? (tombstone ? 'both' : 'claim') : 'tombstone';
    const values: unknown[] = [];
    if (claim) values.push(claim.key, claim.expiresAt);
    if (tombstone) values.push(tombstone.key, tombstone.issuedAt, tombstone.expiresAt);
    return await this.retried(async () => {
      const now = Date.now();
      const result = await this.runner.structured<{ records?: unknown; raw?: unknown }>(
        this.sql.begin[shape],
        [...values, now, now, now],
      );
      if (!claim) return true;
      if (this.upsert === 'on-duplicate-key') {
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
