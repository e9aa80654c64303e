import { Logger } from '@nestjs/common';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import { asError, assertValidDate, EXPIRE_ENTRIES } from '../logout-events/oidc-logout-event.store';
import {
  expiresAtOf,
  IssuerKeyIndex,
  storedRecord,
  toInfo,
  type StoredClient,
  type StoredRecord,
} from './in-memory-session-records';
import { IN_PROCESS_STORE } from './in-process-store';
import { assertLogoutCriteria, EXISTS_NOW, OidcSessionRepository } from './oidc-session.repository';

/**
 * Options of {@link InMemoryOidcSessionRepository}.
 *
 * @publicApi
 */
export interface InMemoryOidcSessionRepositoryOptions {
  /**
   * Most records kept. When a new record would exceed it, expired records are dropped first, then the
   * oldest-inserted live ones (their users are then treated as logged out). Default `10000`.
   */
  maxEntries?: number;
  /** Clock in epoch milliseconds; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

/**
 * A bounded, single-process {@link OidcSessionRepository}. Revocations are not shared between app
 * instances and records do not survive a restart: use {@link TypeOrmOidcSessionRepository} in
 * production. Lookups by `(issuer, sid)` and `(issuer, sub)` are indexed. Logout events live in
 * {@link InMemoryOidcLogoutEventStore}.
 *
 * @publicApi
 */
export class InMemoryOidcSessionRepository extends OidcSessionRepository {
  private readonly logger = new Logger('OidcLogout');
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Insertion-ordered: the first key is the oldest record. */
  private readonly records = new Map<string, StoredRecord>();
  private readonly bySid = new IssuerKeyIndex();
  private readonly bySub = new IssuerKeyIndex();
  /** `registrationId NUL issuer NUL clientId -> client`, for the clients of the records held. */
  private readonly clients = new Map<string, StoredClient>();
  /** A lower bound of every stored `expiresAt`: no record can be expired before it. */
  private earliestExpiry = Number.POSITIVE_INFINITY;
  private evictionWarned = false;

  constructor(options: InMemoryOidcSessionRepositoryOptions = {}) {
    super();
    const maxEntries = options.maxEntries ?? 10_000;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(
        `InMemoryOidcSessionRepository: maxEntries must be a positive integer, got ${String(maxEntries)}`,
      );
    }
    this.maxEntries = maxEntries;
    this.now = options.now ?? Date.now;
  }

  /** How many records are held, expired ones not yet dropped included. */
  get size(): number {
    return this.records.size;
  }

  override save(info: OidcSessionInfo): Promise<void> {
    const expiresAt = info.expiresAt.getTime();
    const createdAt = info.createdAt.getTime();
    if (!Number.isFinite(expiresAt) || !Number.isFinite(createdAt)) {
      return Promise.reject(
        new TypeError('OidcSessionInfo.expiresAt and createdAt must be valid Dates'),
      );
    }
    const id = info.clientSessionId;
    if (this.records.has(id)) {
      // Replacing counts as a new insertion: the record moves to the young end.
      this.delete(id);
    } else if (this.records.size >= this.maxEntries) {
      this.makeRoom();
    }
    const client = this.clientOf(info);
    const record = storedRecord(info, client, expiresAt, createdAt);
    this.records.set(id, record);
    client.records++;
    if (record.sid !== undefined) this.bySid.add(client.issuer, record.sid, id);
    this.bySub.add(client.issuer, record.sub, id);
    if (expiresAt < this.earliestExpiry) this.earliestExpiry = expiresAt;
    return Promise.resolve();
  }

  override existsByClientSessionId(clientSessionId: string): Promise<boolean> {
    return Promise.resolve(this[EXISTS_NOW](clientSessionId));
  }

  /** Its calls are this process's own work: timed, with no span of their own. @internal */
  get [IN_PROCESS_STORE](): true {
    return true;
  }

  /** Answered at once, from the map: no record is built, no promise made. @internal */
  [EXISTS_NOW](clientSessionId: string): boolean {
    const record = this.records.get(clientSessionId);
    return record !== undefined && expiresAtOf(record) > this.now();
  }

  override findByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    // Expired records are left to removeExpired() and eviction, as a database would keep them.
    const record = this.records.get(clientSessionId);
    return Promise.resolve(
      record && expiresAtOf(record) > this.now() ? toInfo(clientSessionId, record) : undefined,
    );
  }

  override removeByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    const record = this.records.get(clientSessionId);
    if (!record) return Promise.resolve(undefined);
    this.delete(clientSessionId);
    return Promise.resolve(
      expiresAtOf(record) > this.now() ? toInfo(clientSessionId, record) : undefined,
    );
  }

  override removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    try {
      assertLogoutCriteria(criteria);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new TypeError(String(error)));
    }
    const { issuer, clientId, sid, sub } = criteria;
    const candidates = sid ? this.bySid.get(issuer, sid) : this.bySub.get(issuer, sub as string);
    const now = this.now();
    const removed: OidcSessionInfo[] = [];
    for (const id of candidates) {
      const record = this.records.get(id);
      if (!record || record.client.issuer !== issuer || record.client.clientId !== clientId) {
        continue;
      }
      if (sid && record.sid !== sid) continue;
      if (sub && record.sub !== sub) continue;
      this.delete(id);
      // Expired matches are dropped too, but they were already absent: not reported.
      if (expiresAtOf(record) > now) removed.push(toInfo(id, record));
    }
    return Promise.resolve(removed);
  }

  /** Deletes the records expired at `now`; answers how many. @internal */
  [EXPIRE_ENTRIES](now: Date): Promise<number> {
    try {
      assertValidDate(now, 'now');
    } catch (error) {
      return Promise.reject(asError(error));
    }
    return Promise.resolve(this.sweepExpired(now.getTime()));
  }

  /** Drops every record. */
  clear(): void {
    this.records.clear();
    this.bySid.clear();
    this.bySub.clear();
    this.clients.clear();
    this.earliestExpiry = Number.POSITIVE_INFINITY;
  }

  /** The shared client object of a new record (the one already held, or a new one). */
  private clientOf(info: OidcSessionInfo): StoredClient {
    const key = `${info.registrationId}\u0000${info.issuer}\u0000${info.clientId}`;
    let client = this.clients.get(key);
    if (!client) {
      client = {
        registrationId: info.registrationId,
        issuer: info.issuer,
        clientId: info.clientId,
        records: 0,
      };
      this.clients.set(key, client);
    }
    return client;
  }

  private makeRoom(): void {
    this.sweepExpired(this.now());
    while (this.records.size >= this.maxEntries) {
      const oldest = this.records.keys().next();
      if (oldest.done) return;
      this.delete(oldest.value);
      if (!this.evictionWarned) {
        this.evictionWarned = true;
        this.logger.warn(
          `In-memory OIDC session repository is full (maxEntries ${this.maxEntries}): evicting the ` +
            'oldest live sessions, whose users will have to log in again. Raise maxEntries or use ' +
            'TypeOrmOidcSessionRepository (shared and persistent) instead.',
        );
      }
    }
  }

  /** Deletes records with `expiresAt <= now`; returns how many. Skips the scan when none can be. */
  private sweepExpired(now: number): number {
    if (now < this.earliestExpiry) return 0;
    let count = 0;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [id, record] of this.records) {
      const expiresAt = expiresAtOf(record);
      if (expiresAt <= now) {
        this.delete(id);
        count++;
      } else if (expiresAt < earliest) {
        earliest = expiresAt;
      }
    }
    this.earliestExpiry = earliest;
    return count;
  }

  private delete(id: string): void {
    const record = this.records.get(id);
    if (!record) return;
    this.records.delete(id);
    const { client } = record;
    if (record.sid !== undefined) this.bySid.delete(client.issuer, record.sid, id);
    this.bySub.delete(client.issuer, record.sub, id);
    if (--client.records === 0) {
      this.clients.delete(`${client.registrationId}\u0000${client.issuer}\u0000${client.clientId}`);
    }
  }
}
