import type { MigrationInterface, QueryRunner } from 'typeorm';
import { convertMysqlKeyColumns, hashClearSids } from './schema-upgrade';

/**
 * The third migration of `OIDC_LOGOUT_MIGRATIONS`, for databases created by the first two (or by
 * `synchronize` of an earlier version):
 *
 * - MySQL/MariaDB: every string column of `oidc_sessions` and `oidc_logout_events` (and each table's
 *   default) becomes `utf8mb4` with the binary collation `utf8mb4_bin`, whatever the database's
 *   charset was (`latin1` stores a sid or sub it cannot encode as `?`; the default collations
 *   ignore case). Tables that are so already are not rebuilt. Other databases: nothing to do.
 * - Every database: each `sid` stored in clear becomes its digest (`hashSid`), computed in
 *   JavaScript (portable), chunk by chunk; values that are digests already are left alone, so
 *   running it again changes nothing.
 *
 * Stop the instances of the earlier version before it runs: a login they record afterwards keeps
 * its sid in clear until the repository next starts (it converts what it finds at startup), and
 * meanwhile only a `sub` logout, the user's own logout or expiry ends it. `down` changes nothing:
 * the digests cannot be reversed, and the charset suits the earlier version too.
 *
 * @publicApi
 */
export class SidDigestsAndBinaryKeys1764000000000 implements MigrationInterface {
  name = 'SidDigestsAndBinaryKeys1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const driver = queryRunner.connection.driver;
    const query = (sql: string, parameters: unknown[]) => queryRunner.query(sql, parameters);
    await convertMysqlKeyColumns(driver, query);
    await hashClearSids(driver, query);
  }

  async down(): Promise<void> {
    // Nothing to undo: see the class comment.
  }
}
