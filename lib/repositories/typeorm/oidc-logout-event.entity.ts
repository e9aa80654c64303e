import { Column, Entity, Index, PrimaryColumn, type ValueTransformer } from 'typeorm';
import { MYSQL_TABLE_OPTIONS } from './mysql-table-options';

/**
 * A nullable `bigint` as a number. PostgreSQL and MySQL drivers return `bigint` as a string.
 */
const bigintNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null | undefined) =>
    value === null || value === undefined ? value : Number(value),
};

/**
 * What a row of `oidc_logout_events` stands for: a logout token's claim, `'claim'` while the logout
 * is not yet applied and `'applied'` once it is (its key stays in the claims' namespace), or a
 * tombstone.
 */
export type OidcLogoutEventKind = 'claim' | 'applied' | 'tombstone';

/**
 * One logout event of {@link TypeOrmOidcSessionRepository}, table `oidc_logout_events`: the claim of
 * a back-channel logout token (replay protection) or a logout tombstone (a logout that arrived
 * before the login it ends was recorded). Rows expire; `removeExpired` deletes them.
 *
 * Add it to your `DataSource`'s `entities` with {@link OidcSessionEntity} (both are in
 * `OIDC_LOGOUT_ENTITIES`), and create the table with `synchronize` or `OIDC_LOGOUT_MIGRATIONS`. On
 * MySQL/MariaDB it is created `utf8mb4` / `utf8mb4_bin` whatever the database's defaults.
 *
 * @publicApi
 */
@Entity({ name: 'oidc_logout_events', engine: MYSQL_TABLE_OPTIONS })
@Index('IDX_oidc_logout_events_expires_at', ['expiresAt'])
export class OidcLogoutEventEntity {
  /**
   * SHA-256 (lowercase hex) of the kind and the library's key: fixed length, and compared exactly
   * whatever the column's collation (MySQL/MariaDB's default ones ignore case and trailing spaces).
   */
  @PrimaryColumn({ name: 'event_key', type: 'varchar', length: 128 })
  eventKey!: string;

  @Column({ name: 'kind', type: 'varchar', length: 16 })
  kind!: OidcLogoutEventKind;

  /** Tombstones: the `iat` (epoch seconds) of the logout. `null` for claims. */
  @Column({ name: 'issued_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  issuedAt!: number | null;

  /** Epoch milliseconds. */
  @Column({ name: 'expires_at', type: 'bigint', transformer: bigintNumber })
  expiresAt!: number;
}
