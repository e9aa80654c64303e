import type { EntityManager } from 'typeorm';
import { OidcLogoutEventEntity } from '../../repositories/typeorm/oidc-logout-event.entity';
import {
  isRetryable,
  MAX_ATTEMPTS,
  type TypeOrmRunner,
} from '../../repositories/typeorm/typeorm-store-support';

/** A `begin` as stored: hashed keys, epoch ms. */
interface StoredBegin {
  claim?: { key: string; expiresAt: number };
  tombstone?: { key: string; issuedAt: number; expiresAt: number };
}

/**
 * The logout-event writes on databases without a one-statement upsert (TypeORM's other drivers):
 * the claim with an `INSERT` (the primary key refuses a second one) and, when the key is present, a
 * read of its locked row first (taken over when expired, kept claimed when live and not applied);
 * the tombstone likewise. The caller runs both in one transaction, so that either both are written
 * or neither.
 *
 * @internal
 */
export class GenericLogoutEventWrites {
  constructor(
    private readonly runner: TypeOrmRunner,
    private readonly manager: EntityManager,
  ) {}

  /**
   * Whether to apply the logout (`false` only for a live, applied claim). Run it in a transaction
   * retried on a unique violation (a concurrent insert of the same key).
   */
  async begin({ claim, tombstone }: StoredBegin): Promise<boolean> {
    const apply = claim ? await this.claim(claim.key, claim.expiresAt) : true;
    if (tombstone) await this.tombstone(tombstone);
    return apply;
  }

  /** Marks the claim applied: one `UPDATE` of a row still `'claim'`. */
  async complete(key: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.manager
          .createQueryBuilder()
          .update(OidcLogoutEventEntity)
          .set({ kind: 'applied' })
          .where('event_key = :eventKey', { eventKey: key })
          .andWhere('kind = :kind', { kind: 'claim' })
          .execute();
        return;
      } catch (error) {
        if (attempt < MAX_ATTEMPTS && isRetryable(error)) continue;
        throw error;
      }
    }
  }

  /** Inserts the claim, or takes over or keeps the row unless it is live and applied. */
  private async claim(eventKey: string, until: number): Promise<boolean> {
    const manager = this.manager;
    const rows = await this.runner
      .lockRows(
        manager
          .createQueryBuilder(OidcLogoutEventEntity, 'e')
          .where('e.eventKey = :eventKey', { eventKey }),
      )
      .getMany();
    const present = rows.find((candidate) => candidate.eventKey === eventKey);
    if (!present) {
      // A concurrent insert makes this fail with a unique violation: the transaction is retried.
      await manager
        .createQueryBuilder()
        .insert()
        .into(OidcLogoutEventEntity)
        .values({ eventKey, kind: 'claim', issuedAt: null, expiresAt: until })
        .updateEntity(false)
        .execute();
      return true;
    }
    const now = Date.now();
    if (present.expiresAt > now && present.kind === 'applied') return false;
    const live = present.expiresAt > now;
    await manager
      .createQueryBuilder()
      .update(OidcLogoutEventEntity)
      .set({
        kind: 'claim',
        issuedAt: null,
        expiresAt: live ? Math.max(present.expiresAt, until) : until,
      })
      .where('event_key = :eventKey', { eventKey })
      .execute();
    return true;
  }

  /** Locks the row, then updates or inserts it (the larger issuedAt, the later expiry). */
  private async tombstone(row: {
    key: string;
    issuedAt: number;
    expiresAt: number;
  }): Promise<void> {
    const manager = this.manager;
    const rows = await this.runner
      .lockRows(
        manager
          .createQueryBuilder(OidcLogoutEventEntity, 'e')
          .where('e.eventKey = :eventKey', { eventKey: row.key }),
      )
      .getMany();
    const current = rows.find((candidate) => candidate.eventKey === row.key);
    if (!current) {
      // A concurrent insert makes this fail with a unique violation: the transaction is retried.
      await manager
        .createQueryBuilder()
        .insert()
        .into(OidcLogoutEventEntity)
        .values({
          eventKey: row.key,
          kind: 'tombstone',
          issuedAt: row.issuedAt,
          expiresAt: row.expiresAt,
        })
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
      .where('event_key = :eventKey', { eventKey: row.key })
      .execute();
  }
}
