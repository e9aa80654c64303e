import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';

/**
 * What the records of one client registration share: one object per (registrationId, issuer,
 * clientId) rather than three fields in every record. `records` counts the records that point to it,
 * so that it is dropped with the last one.
 *
 * @internal
 */
export interface StoredClient {
  readonly registrationId: string;
  readonly issuer: string;
  readonly clientId: string;
  records: number;
}

/**
 * What is kept per record: the info without its key and its client, with its instants as 32-bit
 * integers, which V8 keeps in the record itself (an epoch-milliseconds number would take a 16-byte
 * heap box of its own, and one more memory access for the guard's lookup). `expiresAt` is split as
 * `expiresHi * 2^23 + expiresLo`, exact for every valid Date; `createdAt` is kept as its distance to
 * `expiresAt` (exact for Dates less than 285,000 years apart), an int32 for lifetimes below 24 days
 * (a longer one is stored as a plain number: still exact, only boxed).
 *
 * @internal
 */
export interface StoredRecord {
  readonly client: StoredClient;
  readonly sid: string | undefined;
  readonly sub: string;
  readonly idToken: string;
  readonly expiresHi: number;
  readonly expiresLo: number;
  /** `expiresAt - createdAt`, milliseconds. */
  readonly lifetimeMs: number;
}

/** `expiresAt = expiresHi * EXPIRY_SPLIT + expiresLo`: `|expiresAt| <= 8.64e15` keeps both int32. */
const EXPIRY_SPLIT = 2 ** 23;

/** A record's `expiresAt`, in epoch milliseconds. @internal */
export function expiresAtOf(record: StoredRecord): number {
  return record.expiresHi * EXPIRY_SPLIT + record.expiresLo;
}

/** `value` as V8 keeps an int32 unboxed (a double result of arithmetic stays boxed otherwise). */
function small(value: number): number {
  return (value | 0) === value ? value | 0 : value;
}

/**
 * The record kept for `info` (its client already resolved), from its valid instants in epoch ms.
 *
 * @internal
 */
export function storedRecord(
  info: OidcSessionInfo,
  client: StoredClient,
  expiresAt: number,
  createdAt: number,
): StoredRecord {
  const expiresHi = Math.floor(expiresAt / EXPIRY_SPLIT);
  return {
    client,
    sid: info.sid === undefined || info.sid === '' ? undefined : info.sid,
    sub: info.sub,
    idToken: info.idToken,
    expiresHi: small(expiresHi),
    expiresLo: small(expiresAt - expiresHi * EXPIRY_SPLIT),
    lifetimeMs: small(expiresAt - createdAt),
  };
}

/** The login record a stored record holds. @internal */
export function toInfo(clientSessionId: string, record: StoredRecord): OidcSessionInfo {
  const { client } = record;
  const expiresAt = expiresAtOf(record);
  const info: OidcSessionInfo = {
    clientSessionId,
    registrationId: client.registrationId,
    issuer: client.issuer,
    clientId: client.clientId,
    sub: record.sub,
    idToken: record.idToken,
    expiresAt: new Date(expiresAt),
    createdAt: new Date(expiresAt - record.lifetimeMs),
  };
  if (record.sid !== undefined) info.sid = record.sid;
  return info;
}

/**
 * `issuer -> key -> clientSessionId(s)`. Nested maps share the issuer string between entries; a lone
 * id is stored as a plain string, a `Set` only once a key has several.
 *
 * @internal
 */
export class IssuerKeyIndex {
  private readonly byIssuer = new Map<string, Map<string, string | Set<string>>>();

  add(issuer: string, key: string, id: string): void {
    let byKey = this.byIssuer.get(issuer);
    if (!byKey) {
      byKey = new Map();
      this.byIssuer.set(issuer, byKey);
    }
    const current = byKey.get(key);
    if (current === undefined) {
      byKey.set(key, id);
    } else if (typeof current === 'string') {
      if (current !== id) byKey.set(key, new Set([current, id]));
    } else {
      current.add(id);
    }
  }

  delete(issuer: string, key: string, id: string): void {
    const byKey = this.byIssuer.get(issuer);
    const current = byKey?.get(key);
    if (!byKey || current === undefined) return;
    if (typeof current === 'string') {
      if (current === id) byKey.delete(key);
    } else {
      current.delete(id);
      if (current.size === 1) byKey.set(key, current.values().next().value as string);
      else if (current.size === 0) byKey.delete(key);
    }
    if (byKey.size === 0) this.byIssuer.delete(issuer);
  }

  /** A snapshot of the ids under `(issuer, key)`. */
  get(issuer: string, key: string): string[] {
    const current = this.byIssuer.get(issuer)?.get(key);
    if (current === undefined) return [];
    return typeof current === 'string' ? [current] : [...current];
  }

  clear(): void {
    this.byIssuer.clear();
  }
}
