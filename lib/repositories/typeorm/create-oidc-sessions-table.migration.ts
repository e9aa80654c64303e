import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { CreateOidcLogoutEventsTable1763800000000 } from './create-oidc-logout-events-table.migration';
import { SidDigestsAndBinaryKeys1764000000000 } from './sid-digests-and-binary-keys.migration';

const TABLE = 'oidc_sessions';

/**
 * Creates the `oidc_sessions` table of {@link OidcSessionEntity}, for applications that run with
 * `synchronize: false`. Driver-agnostic (SQLite, PostgreSQL, MySQL/MariaDB); the schema is exactly the
 * entity's, so TypeORM sees no difference afterwards.
 *
 * @publicApi
 */
export class CreateOidcSessionsTable1763700000000 implements MigrationInterface {
  name = 'CreateOidcSessionsTable1763700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: TABLE,
        columns: [
          {
            name: 'client_session_id',
            type: 'varchar',
            length: '64',
            isPrimary: true,
            isNullable: false,
          },
          { name: 'registration_id', type: 'varchar', length: '255', isNullable: false },
          { name: 'issuer', type: 'varchar', length: '512', isNullable: false },
          { name: 'client_id', type: 'varchar', length: '255', isNullable: false },
          { name: 'sid', type: 'varchar', length: '255', isNullable: true },
          { name: 'sub', type: 'varchar', length: '255', isNullable: false },
          { name: 'id_token', type: 'text', isNullable: false },
          { name: 'expires_at', type: 'bigint', isNullable: false },
          { name: 'created_at', type: 'bigint', isNullable: false },
        ],
        indices: [
          { name: 'IDX_oidc_sessions_issuer_sid', columnNames: ['issuer', 'sid'] },
          { name: 'IDX_oidc_sessions_issuer_sub', columnNames: ['issuer', 'sub'] },
          { name: 'IDX_oidc_sessions_expires_at', columnNames: ['expires_at'] },
        ],
      }),
      // Skipped when the table exists already, e.g. created earlier by `synchronize`.
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(TABLE, true);
  }
}

/**
 * Every migration of the library, oldest first: add them to your `DataSource`'s `migrations`. New
 * ones are appended; a database that ran the earlier ones runs only the new ones.
 *
 * @publicApi
 */
export const OIDC_LOGOUT_MIGRATIONS = [
  CreateOidcSessionsTable1763700000000,
  CreateOidcLogoutEventsTable1763800000000,
  SidDigestsAndBinaryKeys1764000000000,
];
