import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';

const TABLE = 'oidc_logout_events';

/**
 * Creates the `oidc_logout_events` table of {@link OidcLogoutEventEntity} (logout-token claims and
 * logout tombstones), for applications that run with `synchronize: false`. The second migration of
 * `OIDC_LOGOUT_MIGRATIONS`: a database migrated with the first one only gets this table and nothing
 * else changes. Driver-agnostic; the schema is exactly the entity's.
 *
 * @publicApi
 */
export class CreateOidcLogoutEventsTable1763800000000 implements MigrationInterface {
  name = 'CreateOidcLogoutEventsTable1763800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: TABLE,
        columns: [
          { name: 'event_key', type: 'varchar', length: '128', isPrimary: true, isNullable: false },
          { name: 'kind', type: 'varchar', length: '16', isNullable: false },
          { name: 'issued_at', type: 'bigint', isNullable: true },
          { name: 'expires_at', type: 'bigint', isNullable: false },
        ],
        indices: [{ name: 'IDX_oidc_logout_events_expires_at', columnNames: ['expires_at'] }],
      }),
      // Skipped when the table exists already, e.g. created earlier by `synchronize`.
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(TABLE, true);
  }
}
