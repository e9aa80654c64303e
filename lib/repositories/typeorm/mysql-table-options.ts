/**
 * The table options of the library's entities on MySQL/MariaDB: InnoDB, `utf8mb4` and the binary
 * collation `utf8mb4_bin`, so that `synchronize` creates the key columns (session ids, sids, subs,
 * issuers, event keys) able to hold every character and compared exactly, whatever the database's
 * default charset (`latin1` stores what it cannot encode as `?`) and collation (the default ones
 * ignore case).
 *
 * It goes through the entity's `engine`, which TypeORM writes after `ENGINE=` in MySQL's
 * `CREATE TABLE` and which the other drivers ignore: column-level `charset` and `collation` would
 * be written into PostgreSQL's and SQLite's DDL too, where `utf8mb4_bin` does not exist.
 * Existing tables are converted by the migration `SidDigestsAndBinaryKeys1764000000000`
 * (`synchronize` does not compare charsets).
 *
 * @internal
 */
export const MYSQL_TABLE_OPTIONS = 'InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';
