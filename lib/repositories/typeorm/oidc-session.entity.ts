import { Column, Entity, Index, PrimaryColumn, type ValueTransformer } from 'typeorm';
import { MYSQL_TABLE_OPTIONS } from './mysql-table-options';

/**
 * Epoch milliseconds in a `bigint` column. PostgreSQL and MySQL drivers return `bigint` as a string;
 * storing numbers instead of timestamps avoids every time-zone conversion of the three databases.
 */
const epochMillis: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null | undefined) =>
    value === null || value === undefined ? value : Number(value),
};

/**
 * One session correlation row of {@link TypeOrmOidcSessionRepository}, table `oidc_sessions`.
 *
 * Add it to your `DataSource`'s `entities` (or use `autoLoadEntities` with `@nestjs/typeorm`), and
 * create the table with `synchronize` or with the exported `OIDC_LOGOUT_MIGRATIONS`.
 *
 * Column lengths keep the composite indexes within MySQL/MariaDB's 3072-byte key limit in utf8mb4:
 * `(issuer 512 + sid 255) * 4 = 3068` bytes.
 *
 * On MySQL/MariaDB the table is created `utf8mb4` with the binary collation `utf8mb4_bin`, whatever
 * the database's defaults ({@link MYSQL_TABLE_OPTIONS}); the other databases ignore it.
 *
 * @publicApi
 */
@Entity({ name: 'oidc_sessions', engine: MYSQL_TABLE_OPTIONS })
@Index('IDX_oidc_sessions_issuer_sid', ['issuer', 'sid'])
@Index('IDX_oidc_sessions_issuer_sub', ['issuer', 'sub'])
@Index('IDX_oidc_sessions_expires_at', ['expiresAt'])
export class OidcSessionEntity {
  /** SHA-256 digest (base64url) of the application session id. */
  @PrimaryColumn({ name: 'client_session_id', type: 'varchar', length: 64 })
  clientSessionId!: string;

  @Column({ name: 'registration_id', type: 'varchar', length: 255 })
  registrationId!: string;

  @Column({ name: 'issuer', type: 'varchar', length: 512 })
  issuer!: string;

  @Column({ name: 'client_id', type: 'varchar', length: 255 })
  clientId!: string;

  /** The digest of the OP session id (`hashSid`, never the sid itself), `null` when the OP sent none. */
  @Column({ name: 'sid', type: 'varchar', length: 255, nullable: true })
  sid!: string | null;

  @Column({ name: 'sub', type: 'varchar', length: 255 })
  sub!: string;

  @Column({ name: 'id_token', type: 'text' })
  idToken!: string;

  /** Epoch milliseconds. */
  @Column({ name: 'expires_at', type: 'bigint', transformer: epochMillis })
  expiresAt!: number;

  /** Epoch milliseconds. */
  @Column({ name: 'created_at', type: 'bigint', transformer: epochMillis })
  createdAt!: number;
}
