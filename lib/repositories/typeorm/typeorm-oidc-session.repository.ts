import type { DataSource, EntityManager } from 'typeorm';
import { OidcLogoutOptionsError, OidcSessionRepositoryError } from '../../errors/oidc-logout.error';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../../interfaces/oidc-session-info.interface';
import { assertLogoutCriteria, OidcSessionRepository } from '../oidc-session.repository';
import { OidcSessionEntity } from './oidc-session.entity';

/** Drivers with one shared connection: a transaction would absorb concurrent callers' queries. */
const SINGLE_CONNECTION_DRIVERS = new Set([
  'better-sqlite3',
  'sqljs',
  'capacitor',
  'cordova',
  'expo',
  'nativescript',
  'react-native',
]);
/** Drivers on which `SELECT ... FOR UPDATE` (TypeORM's `pessimistic_write`) is used. */
const ROW_LOCK_DRIVERS = new Set([
  'postgres',
  'aurora-postgres',
  'cockroachdb',
  'mysql',
  'mariadb',
  'aurora-mysql',
  'mssql',
  'oracle',
]);
/** InnoDB takes gap locks under REPEATABLE READ; READ COMMITTED locks only the matching rows. */
const READ_COMMITTED_DRIVERS = new Set(['mysql', 'mariadb', 'aurora-mysql']);
/** Deadlock / serialization failure codes (MySQL/MariaDB, PostgreSQL): the transaction is retried. */
const RETRYABLE_CODES = new Set(['ER_LOCK_DEADLOCK', '40P01', '40001']);
const MAX_ATTEMPTS = 3;
/** Primary keys per `DELETE ... IN (...)` statement. */
const DELETE_CHUNK = 500;

/** Character limits of the columns (SQLite does not enforce them; MySQL might truncate). */
const LIMITS = {
  clientSessionId: 64,
  registrationId: 255,
  issuer: 512,
  clientId: 255,
  sid: 255,
  sub: 255,
} as const;
/** MySQL/MariaDB `TEXT` holds 65,535 bytes. */
const ID_TOKEN_MAX_BYTES = 65_535;

const COLUMNS = [
  'client_session_id',
  'registration_id',
  'issuer',
  'client_id',
  'sid',
  'sub',
  'id_token',
  'expires_at',
  'created_at',
];

/**
 * {@link OidcSessionRepository} on a TypeORM `DataSource`: SQLite (better-sqlite3), PostgreSQL,
 * MySQL/MariaDB. Every app instance sharing the database sees the same revocations.
 *
 * The `DataSource` must know {@link OidcSessionEntity} (add it to `entities`, or use
 * `autoLoadEntities`) and the `oidc_sessions` table must exist (`synchronize`, or
 * `OIDC_LOGOUT_MIGRATIONS`). Call {@link TypeOrmOidcSessionRepository.init} once at startup; the module
 * does it for you.
 *
 * Every database failure rejects with an {@link OidcSessionRepositoryError} (its message carries no
 * session id or token; the driver's error is its `cause`), so that callers fail closed.
 *
 * Comparisons are exact (case- and trailing-space-sensitive) on every database, including
 * MySQL/MariaDB whose default collations are not: candidate rows are filtered again in JavaScript.
 *
 * @publicApi
 */
export class TypeOrmOidcSessionRepository extends OidcSessionRepository {
  private initialization: Promise<void> | undefined;
  /** Tail of the operation queue, used on single-connection drivers only. */
  private queueTail: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {
    super();
  }

  /**
   * Initializes the `DataSource` when it is not yet, then checks that it knows
   * {@link OidcSessionEntity} and that the `oidc_sessions` table exists. Throws an
   * `OidcLogoutOptionsError` explaining the fix otherwise. Idempotent.
   */
  init(): Promise<void> {
    this.initialization ??= this.initialize().catch((error: unknown) => {
      this.initialization = undefined;
      throw error;
    });
    return this.initialization;
  }

  override save(info: OidcSessionInfo): Promise<void> {
    return this.run('save the session', async (manager) => {
      const row = toRow(info);
      await manager
        .createQueryBuilder()
        .insert()
        .into(OidcSessionEntity)
        .values(row)
        .orUpdate(COLUMNS, ['client_session_id'])
        .updateEntity(false)
        .execute();
    });
  }

  override findByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.run('look up the session', async (manager) => {
      const row = await manager
        .createQueryBuilder(OidcSessionEntity, 's')
        .where('s.clientSessionId = :clientSessionId', { clientSessionId })
        .andWhere('s.expiresAt > :now', { now: Date.now() })
        .getOne();
      return row && row.clientSessionId === clientSessionId ? toInfo(row) : undefined;
    });
  }

  override removeByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.runInTransaction('remove the session', async (manager) => {
      const rows = await this.lockRows(
        manager
          .createQueryBuilder(OidcSessionEntity, 's')
          .where('s.clientSessionId = :clientSessionId', { clientSessionId }),
      ).getMany();
      const row = rows.find((candidate) => candidate.clientSessionId === clientSessionId);
      if (!row) return undefined;
      await deleteByIds(manager, [row.clientSessionId]);
      return row.expiresAt > Date.now() ? toInfo(row) : undefined;
    });
  }

  override async removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    assertLogoutCriteria(criteria);
    const { issuer, clientId, sid, sub } = criteria;
    return await this.runInTransaction('remove the sessions of a logout', async (manager) => {
      const query = manager
        .createQueryBuilder(OidcSessionEntity, 's')
        .where('s.issuer = :issuer', { issuer })
        .andWhere('s.clientId = :clientId', { clientId });
      if (sid) query.andWhere('s.sid = :sid', { sid });
      if (sub) query.andWhere('s.sub = :sub', { sub });
      const candidates = await this.lockRows(query).getMany();
      // Exact comparison: MySQL/MariaDB collations ignore case and trailing spaces.
      const matches = candidates.filter(
        (row) =>
          row.issuer === issuer &&
          row.clientId === clientId &&
          (!sid || row.sid === sid) &&
          (!sub || row.sub === sub),
      );
      await deleteByIds(
        manager,
        matches.map((row) => row.clientSessionId),
      );
      // Expired matches are deleted too, but they were already absent: not reported.
      const now = Date.now();
      return matches.filter((row) => row.expiresAt > now).map(toInfo);
    });
  }

  /** Deletes expired records with one statement; returns how many (0 if the driver does not say). */
  override removeExpired(now: Date): Promise<number> {
    return this.run('remove expired sessions', async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .delete()
        .from(OidcSessionEntity)
        .where('expires_at <= :now', { now: now.getTime() })
        .execute();
      return typeof result.affected === 'number' ? result.affected : 0;
    });
  }

  private async initialize(): Promise<void> {
    if (!this.dataSource.isInitialized) {
      try {
        await this.dataSource.initialize();
      } catch (error) {
        throw new OidcSessionRepositoryError(
          `OIDC session repository could not initialize its TypeORM DataSource (${describeError(error)})`,
          { cause: error },
        );
      }
    }
    if (!this.dataSource.hasMetadata(OidcSessionEntity)) {
      throw new OidcLogoutOptionsError(
        `The TypeORM DataSource (type '${this.dataSource.options.type}') used by the OIDC session ` +
          "repository does not know OidcSessionEntity: add OidcSessionEntity to the DataSource's " +
          '`entities` (or use `autoLoadEntities: true` with @nestjs/typeorm), and create its table ' +
          'with `synchronize` or OIDC_LOGOUT_MIGRATIONS.',
      );
    }
    const tablePath = this.dataSource.getMetadata(OidcSessionEntity).tablePath;
    const exists = await this.run('check the sessions table', async () => {
      const queryRunner = this.dataSource.createQueryRunner();
      try {
        return await queryRunner.hasTable(tablePath);
      } finally {
        await queryRunner.release();
      }
    });
    if (!exists) {
      throw new OidcLogoutOptionsError(
        `The table '${tablePath}' of OidcSessionEntity does not exist: run OIDC_LOGOUT_MIGRATIONS ` +
          "(add them to the DataSource's `migrations` and run them) or enable `synchronize`.",
      );
    }
  }

  /** Runs `work` on the DataSource's manager, serialized on single-connection drivers. */
  private run<T>(operation: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.assertReady(operation);
      try {
        return await work(this.dataSource.manager);
      } catch (error) {
        throw wrap(operation, error);
      }
    });
  }

  /** Runs `work` in a transaction, retried on deadlock, serialized on single-connection drivers. */
  private runInTransaction<T>(
    operation: string,
    work: (manager: EntityManager) => Promise<T>,
  ): Promise<T> {
    return this.exclusive(async () => {
      this.assertReady(operation);
      const isolation = READ_COMMITTED_DRIVERS.has(this.driverType)
        ? ('READ COMMITTED' as const)
        : undefined;
      for (let attempt = 1; ; attempt++) {
        try {
          return isolation
            ? await this.dataSource.transaction(isolation, work)
            : await this.dataSource.transaction(work);
        } catch (error) {
          if (attempt < MAX_ATTEMPTS && isRetryable(error)) continue;
          throw wrap(operation, error);
        }
      }
    });
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    if (!SINGLE_CONNECTION_DRIVERS.has(this.driverType)) return task();
    const result = this.queueTail.then(task, task);
    this.queueTail = result.catch(() => undefined);
    return result;
  }

  private lockRows<Q extends { setLock(mode: 'pessimistic_write'): Q }>(query: Q): Q {
    return ROW_LOCK_DRIVERS.has(this.driverType) ? query.setLock('pessimistic_write') : query;
  }

  private assertReady(operation: string): void {
    if (!this.dataSource.isInitialized) {
      throw new OidcSessionRepositoryError(
        `OIDC session repository could not ${operation}: its TypeORM DataSource is not initialized ` +
          '(or was destroyed)',
      );
    }
  }

  private get driverType(): string {
    return String(this.dataSource.options.type);
  }
}

/** A record the columns cannot hold; the message names the field, never its value. */
class InvalidRecordError extends Error {}

async function deleteByIds(manager: EntityManager, ids: string[]): Promise<void> {
  for (let start = 0; start < ids.length; start += DELETE_CHUNK) {
    await manager
      .createQueryBuilder()
      .delete()
      .from(OidcSessionEntity)
      .where('client_session_id IN (:...ids)', { ids: ids.slice(start, start + DELETE_CHUNK) })
      .execute();
  }
}

function toRow(info: OidcSessionInfo): OidcSessionEntity {
  const expiresAt = info.expiresAt.getTime();
  const createdAt = info.createdAt.getTime();
  if (!Number.isFinite(expiresAt) || !Number.isFinite(createdAt)) {
    throw new InvalidRecordError('expiresAt and createdAt must be valid Dates');
  }
  const row = new OidcSessionEntity();
  row.clientSessionId = info.clientSessionId;
  row.registrationId = info.registrationId;
  row.issuer = info.issuer;
  row.clientId = info.clientId;
  row.sid = info.sid === undefined || info.sid === '' ? null : info.sid;
  row.sub = info.sub;
  row.idToken = info.idToken;
  row.expiresAt = expiresAt;
  row.createdAt = createdAt;
  for (const [field, limit] of Object.entries(LIMITS)) {
    const value = row[field as keyof typeof LIMITS];
    // Code points, as the databases count characters.
    if (value !== null && value.length > limit && [...value].length > limit) {
      throw new InvalidRecordError(`${field} is longer than ${limit} characters`);
    }
  }
  if (Buffer.byteLength(row.idToken, 'utf8') > ID_TOKEN_MAX_BYTES) {
    throw new InvalidRecordError(`idToken is longer than ${ID_TOKEN_MAX_BYTES} bytes`);
  }
  return row;
}

function toInfo(row: OidcSessionEntity): OidcSessionInfo {
  const info: OidcSessionInfo = {
    clientSessionId: row.clientSessionId,
    registrationId: row.registrationId,
    issuer: row.issuer,
    clientId: row.clientId,
    sub: row.sub,
    idToken: row.idToken,
    expiresAt: new Date(row.expiresAt),
    createdAt: new Date(row.createdAt),
  };
  if (row.sid !== null) info.sid = row.sid;
  return info;
}

function wrap(operation: string, error: unknown): OidcSessionRepositoryError {
  if (error instanceof OidcSessionRepositoryError) return error;
  if (error instanceof InvalidRecordError) {
    // Our own validation: its message names the field, never the value.
    return new OidcSessionRepositoryError(
      `OIDC session repository could not ${operation}: ${error.message}`,
      { cause: error },
    );
  }
  return new OidcSessionRepositoryError(
    `OIDC session repository could not ${operation} (${describeError(error)})`,
    { cause: withoutQueryParameters(error) },
  );
}

/**
 * The driver error to keep as `cause`, without TypeORM's `query` and `parameters`: those quote the
 * values written (ID tokens), and a cause is often logged whole.
 */
function withoutQueryParameters(error: unknown): unknown {
  if (!(error instanceof Error) || !('parameters' in error || 'query' in error)) return error;
  const copy = new Error(error.message);
  copy.name = error.name;
  const code = errorCode(error);
  if (code !== undefined) Object.assign(copy, { code });
  return copy;
}

/** The error's class and code: never its message, which may quote values (session ids, tokens). */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const code = errorCode(error);
  return code ? `${error.name}, code ${code}` : error.name;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, driverError } = error as { code?: unknown; driverError?: unknown };
  if (typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code)) return code;
  return driverError && driverError !== error ? errorCode(driverError) : undefined;
}

function isRetryable(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && RETRYABLE_CODES.has(code);
}
