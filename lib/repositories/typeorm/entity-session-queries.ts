/*
 * The session repository's statements through TypeORM's query builder and entity: every write on
 * every driver (`save`, the expiry sweep), and the lookups and removals on the drivers without
 * direct SQL (MySQL/MariaDB and the rest; see `DIRECT_SQL_DRIVERS`). Comparisons are exact: MySQL/
 * MariaDB collations ignore case and trailing spaces, so candidate rows are filtered again here.
 */
import type { EntityManager } from 'typeorm';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../../interfaces/oidc-session-info.interface';
import { SESSION_COLUMNS } from './direct-sql';
import { OidcSessionEntity } from './oidc-session.entity';
import { entityToInfo, infoToEntity } from './session-entity-mapping';
import type { TypeOrmRunner } from './typeorm-store-support';

/** Primary keys per `DELETE ... IN (...)` statement. */
const DELETE_CHUNK = 500;

const COLUMNS = [...SESSION_COLUMNS];

/** Inserts the login record, or replaces the one of its client session id. @internal */
export async function upsertSession(manager: EntityManager, info: OidcSessionInfo): Promise<void> {
  const row = infoToEntity(info);
  await manager
    .createQueryBuilder()
    .insert()
    .into(OidcSessionEntity)
    .values(row)
    .orUpdate(COLUMNS, ['client_session_id'])
    .updateEntity(false)
    .execute();
}

/** The live record of a client session id, if any. @internal */
export async function findLiveSession(
  manager: EntityManager,
  clientSessionId: string,
): Promise<OidcSessionInfo | undefined> {
  const row = await manager
    .createQueryBuilder(OidcSessionEntity, 's')
    .where('s.clientSessionId = :clientSessionId', { clientSessionId })
    .andWhere('s.expiresAt > :now', { now: Date.now() })
    .getOne();
  return row && row.clientSessionId === clientSessionId ? entityToInfo(row) : undefined;
}

/**
 * In a transaction: locks and deletes the row of a client session id; answers its record if it was
 * live. @internal
 */
export async function removeLockedSession(
  runner: TypeOrmRunner,
  manager: EntityManager,
  clientSessionId: string,
): Promise<OidcSessionInfo | undefined> {
  const rows = await runner
    .lockRows(
      manager
        .createQueryBuilder(OidcSessionEntity, 's')
        .where('s.clientSessionId = :clientSessionId', { clientSessionId }),
    )
    .getMany();
  const row = rows.find((candidate) => candidate.clientSessionId === clientSessionId);
  if (!row) return undefined;
  await deleteByIds(manager, [row.clientSessionId]);
  return row.expiresAt > Date.now() ? entityToInfo(row) : undefined;
}

/**
 * In a transaction: locks and deletes the rows a logout names; answers the live ones among them.
 * @internal
 */
export async function removeLockedMatches(
  runner: TypeOrmRunner,
  manager: EntityManager,
  { issuer, clientId, sid, sub }: OidcLogoutCriteria,
): Promise<OidcSessionInfo[]> {
  const query = manager
    .createQueryBuilder(OidcSessionEntity, 's')
    .where('s.issuer = :issuer', { issuer })
    .andWhere('s.clientId = :clientId', { clientId });
  if (sid) query.andWhere('s.sid = :sid', { sid });
  if (sub) query.andWhere('s.sub = :sub', { sub });
  const candidates = await runner.lockRows(query).getMany();
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
  return matches.filter((row) => row.expiresAt > now).map(entityToInfo);
}

/** Deletes the records expired at `time` (epoch ms); how many (0 if the driver does not say). @internal */
export async function deleteExpiredSessions(manager: EntityManager, time: number): Promise<number> {
  const result = await manager
    .createQueryBuilder()
    .delete()
    .from(OidcSessionEntity)
    .where('expires_at <= :now', { now: time })
    .execute();
  return typeof result.affected === 'number' ? result.affected : 0;
}

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
