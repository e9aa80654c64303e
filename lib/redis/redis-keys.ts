import { createHash } from 'node:crypto';

/** The key prefix of the Redis stores when none is given. */
export const DEFAULT_REDIS_KEY_PREFIX = 'oidc-logout';

/**
 * How long an entry stays in Redis after its `expiresAt` (or after it was written, for one saved
 * already expired), in ms: expiry is decided by the app's clock against `expiresAt`, never by Redis's
 * TTL, and the cleanup finds the expired entries in their expiry index and deletes them. The TTL
 * only bounds what is left when no cleanup runs (every key has one).
 */
export const EXPIRED_ENTRY_GRACE_MS = 3_600_000;

/** The longest key prefix accepted. */
const MAX_PREFIX_LENGTH = 64;

/**
 * The base of every key of one deployment: the prefix as a Redis Cluster hash tag, `{prefix}`, so
 * that every key of the stores lives in one slot and each script touches one node. Throws a
 * `TypeError` for a prefix that is empty, too long, or holds a brace (it would change the tag).
 *
 * @internal
 */
export function redisKeyBase(prefix: unknown = DEFAULT_REDIS_KEY_PREFIX): string {
  if (
    typeof prefix !== 'string' ||
    prefix.length === 0 ||
    prefix.length > MAX_PREFIX_LENGTH ||
    /[{}]/.test(prefix)
  ) {
    throw new TypeError(
      `keyPrefix must be a string of 1 to ${MAX_PREFIX_LENGTH} characters without { or }`,
    );
  }
  return `{${prefix}}:`;
}

/**
 * The keys of the session repository under `base`:
 * - `r:<clientSessionId>`: the record (a hash);
 * - `i:sid:<digest>` and `i:sub:<digest>`: the ids of the records of one OP session or one user of
 *   one issuer and client (sets; the digest is SHA-256 of the three values, so no sid or sub is in a
 *   key name);
 * - `x:s`: the expiry index (a sorted set, `expiresAt` in ms by id), read by the cleanup.
 *
 * A script builds a record's name from the expiry index's name as Redis got it (see `beside`):
 * `x:s` and `r:` must stay siblings under the base, as `x:e` and `e:` for the events.
 *
 * @internal
 */
export class RedisSessionKeys {
  readonly expiries: string;
  readonly recordPrefix: string;

  constructor(private readonly base: string) {
    this.expiries = `${base}x:s`;
    this.recordPrefix = `${base}r:`;
  }

  record(clientSessionId: string): string {
    return this.recordPrefix + clientSessionId;
  }

  bySid(issuer: string, clientId: string, sid: string): string {
    return `${this.base}i:sid:${digest(issuer, clientId, sid)}`;
  }

  bySub(issuer: string, clientId: string, sub: string): string {
    return `${this.base}i:sub:${digest(issuer, clientId, sub)}`;
  }
}

/**
 * The keys of the logout-event store under `base`: `e:c:<key>` (a claim), `e:t:<key>` (a tombstone),
 * both hashes, and `x:e`, their expiry index (members `c:<key>` and `t:<key>`, under `e:`).
 *
 * @internal
 */
export class RedisEventKeys {
  readonly expiries: string;
  readonly entryPrefix: string;

  constructor(base: string) {
    this.expiries = `${base}x:e`;
    this.entryPrefix = `${base}e:`;
  }

  claim(key: string): string {
    return `${this.entryPrefix}c:${key}`;
  }

  tombstone(key: string): string {
    return `${this.entryPrefix}t:${key}`;
  }
}

/** SHA-256 (base64url) of values joined by NUL: an index key names no value. */
function digest(...values: string[]): string {
  return createHash('sha256').update(values.join('\u0000')).digest('base64url');
}
