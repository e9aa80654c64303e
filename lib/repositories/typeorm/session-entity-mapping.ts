import type { OidcSessionInfo } from '../../interfaces/oidc-session-info.interface';
import { OidcSessionEntity } from './oidc-session.entity';
import { InvalidRecordError } from './typeorm-store-support';

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

/**
 * A login record as the row to write. Throws an {@link InvalidRecordError} (naming the field, never
 * its value) when the columns cannot hold it, rather than let a database truncate it.
 *
 * @internal
 */
export function infoToEntity(info: OidcSessionInfo): OidcSessionEntity {
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

/** A row read through the entity as the login record it holds. @internal */
export function entityToInfo(row: OidcSessionEntity): OidcSessionInfo {
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
