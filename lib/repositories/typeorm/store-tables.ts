import type { EntityTarget } from 'typeorm';
import { OidcLogoutOptionsError, OidcSessionRepositoryError } from '../../errors/oidc-logout.error';
import { prepareStoredTables, type STRING_COLUMNS } from './schema-upgrade';
import { describeError, type TypeOrmRunner } from './typeorm-store-support';

/** A table of the library: the entity that maps it, by the entity's name and the table's. */
export interface StoreTable {
  name: string;
  table: keyof typeof STRING_COLUMNS;
  entity: EntityTarget<unknown>;
}

/**
 * What a TypeORM store does at startup: initializes the DataSource when it is not yet, checks that
 * it knows the store's entities and that their tables exist (an `OidcLogoutOptionsError` explaining
 * the fix otherwise), then prepares the tables (MySQL/MariaDB charsets, sids stored in clear by an
 * earlier version hashed).
 *
 * @internal
 */
export async function initializeStoreTables(
  runner: TypeOrmRunner,
  storeName: string,
  tables: readonly StoreTable[],
): Promise<void> {
  const { dataSource } = runner;
  if (!dataSource.isInitialized) {
    try {
      await dataSource.initialize();
    } catch (error) {
      throw new OidcSessionRepositoryError(
        `${storeName} could not initialize its TypeORM DataSource (${describeError(error)})`,
        { cause: error },
      );
    }
  }
  const unknown = tables.filter(({ entity }) => !dataSource.hasMetadata(entity));
  if (unknown.length > 0) {
    throw new OidcLogoutOptionsError(
      `The TypeORM DataSource (type '${dataSource.options.type}') used by the ${storeName} does ` +
        `not know ${unknown.map(({ name }) => name).join(' and ')}: add OIDC_LOGOUT_ENTITIES ` +
        "(OidcSessionEntity and OidcLogoutEventEntity) to the DataSource's `entities` (or use " +
        '`autoLoadEntities: true` with @nestjs/typeorm and TypeOrmModule.forFeature(' +
        'OIDC_LOGOUT_ENTITIES)), and create their tables with `synchronize` or ' +
        'OIDC_LOGOUT_MIGRATIONS.',
    );
  }
  const tablePaths: Partial<Record<keyof typeof STRING_COLUMNS, string>> = {};
  for (const { name, table, entity } of tables) {
    const tablePath = dataSource.getMetadata(entity).tablePath;
    tablePaths[table] = tablePath;
    const exists = await runner.run('check its tables', async () => {
      const queryRunner = dataSource.createQueryRunner();
      try {
        return await queryRunner.hasTable(tablePath);
      } finally {
        await queryRunner.release();
      }
    });
    if (!exists) {
      throw new OidcLogoutOptionsError(
        `The table '${tablePath}' of ${name} does not exist: run OIDC_LOGOUT_MIGRATIONS (add them ` +
          "to the DataSource's `migrations` and run them; a database migrated before " +
          'oidc_logout_events existed runs only the new one) or enable `synchronize`.',
      );
    }
  }
  await prepareStoredTables(
    dataSource,
    (sql, parameters) =>
      runner.run('prepare its tables', (manager) => manager.query(sql, parameters)),
    tablePaths,
  );
}
