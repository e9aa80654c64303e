import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import {
  assertValidDate,
  EXPIRE_ENTRIES,
  type OidcLogoutEventBegin,
} from '../logout-events/oidc-logout-event.store';
import {
  WHOLE_LOGOUT,
  type WholeLogout,
  type WholeLogoutOutcome,
} from '../repositories/joint-completion';
import {
  assertLogoutCriteria,
  OidcSessionRepository,
} from '../repositories/oidc-session.repository';
import { EXPIRE_BATCH, expireInBatches } from './redis-expiry';
import { redisCommands, type RedisClientLike, type RedisCommands } from './redis-client';
import { EXPIRED_ENTRY_GRACE_MS, redisKeyBase, RedisSessionKeys } from './redis-keys';
import { arrayReply, epochMs, sessionFromFields } from './redis-replies';
import type { RedisStoreOptions } from './redis-store.options';
import {
  EXPIRE_SESSIONS,
  RECORD_FIELDS,
  REMOVE_MATCHING_SESSIONS,
  REMOVE_SESSION,
  SAVE_SESSION,
} from './redis-session-scripts';
import { APPLY_LOGOUT, redisEventSideOn, type RedisEventSide } from './redis-whole-logout';

/**
 * An {@link OidcSessionRepository} in Redis, shared by every app instance that uses the same Redis
 * and key prefix. It takes the app's own client (ioredis or node-redis), which the app connects and
 * closes, as connect-redis does.
 *
 * Each record is a hash with its `(issuer, client, sid)` and `(issuer, client, sub)` index entries;
 * every write is one Lua script (a record and its index entries change together), and removing by
 * `sub` ends every session of the user in one round trip. Expiry follows `expiresAt` against the
 * app's clock; every key also has a TTL (an hour past its expiry), and the library's cleanup deletes
 * expired records as they come. Fails closed like the SQL stores: a Redis that does not answer makes
 * every call reject, so the guard refuses (503) and a logout is kept and applied later.
 *
 * ```ts
 * OidcLogoutModule.forRoot({ sessionRepository: RedisOidcSessionRepository.with(redis), ... })
 * ```
 *
 * @publicApi
 */
export class RedisOidcSessionRepository extends OidcSessionRepository {
  private readonly client: RedisClientLike;
  private readonly base: string;
  private readonly redis: RedisCommands;
  private readonly keys: RedisSessionKeys;
  private readonly now: () => number;

  /** A repository on `client`: `new RedisOidcSessionRepository(client, options)`. */
  static with(client: RedisClientLike, options?: RedisStoreOptions): RedisOidcSessionRepository {
    return new RedisOidcSessionRepository(client, options);
  }

  constructor(client: RedisClientLike, options: RedisStoreOptions = {}) {
    super();
    this.client = client;
    this.redis = redisCommands(client);
    this.base = redisKeyBase(options.keyPrefix);
    this.keys = new RedisSessionKeys(this.base);
    this.now = options.now ?? Date.now;
  }

  override async save(info: OidcSessionInfo): Promise<void> {
    assertValidDate(info.expiresAt, 'OidcSessionInfo.expiresAt');
    assertValidDate(info.createdAt, 'OidcSessionInfo.createdAt');
    const { clientSessionId: id, issuer, clientId, sub } = info;
    const sid = info.sid === undefined || info.sid === '' ? undefined : info.sid;
    const keys = [this.keys.record(id), this.keys.bySub(issuer, clientId, sub), this.keys.expiries];
    if (sid !== undefined) keys.push(this.keys.bySid(issuer, clientId, sid));
    await this.redis.run(SAVE_SESSION, keys, [
      id,
      String(this.now()),
      String(EXPIRED_ENTRY_GRACE_MS),
      info.registrationId,
      issuer,
      clientId,
      sub,
      info.idToken,
      String(info.expiresAt.getTime()),
      String(info.createdAt.getTime()),
      sid ?? '',
    ]);
  }

  override async findByClientSessionId(
    clientSessionId: string,
  ): Promise<OidcSessionInfo | undefined> {
    const reply = await this.redis.send([
      'HMGET',
      this.keys.record(clientSessionId),
      ...RECORD_FIELDS,
    ]);
    return this.live(clientSessionId, arrayReply(reply, 'HMGET'));
  }

  override async existsByClientSessionId(clientSessionId: string): Promise<boolean> {
    // The issuer too: a record without one is gone to the logout scripts (no logout could end it).
    const [exp, issuer] = arrayReply(
      await this.redis.send(['HMGET', this.keys.record(clientSessionId), 'exp', 'iss']),
      'HMGET',
    );
    const expires = epochMs(exp);
    return (
      typeof issuer === 'string' && issuer !== '' && expires !== undefined && expires > this.now()
    );
  }

  override async removeByClientSessionId(
    clientSessionId: string,
  ): Promise<OidcSessionInfo | undefined> {
    const reply = await this.redis.run(
      REMOVE_SESSION,
      [this.keys.record(clientSessionId), this.keys.expiries],
      [clientSessionId],
    );
    return this.live(clientSessionId, arrayReply(reply, 'a removal'));
  }

  override async removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    const { keys, args } = this.removalCommand(criteria);
    const reply = await this.redis.run(REMOVE_MATCHING_SESSIONS, keys, args);
    return this.removedSessions(arrayReply(reply, 'a removal'));
  }

  /**
   * With the Redis logout-event store on the same client and key prefix: a logout applied whole,
   * in one script (see `redis-whole-logout.ts`). `undefined` with any other event store, another
   * client or prefix, or when a subclass overrides `removeByLogoutToken`.
   *
   * @internal
   */
  [WHOLE_LOGOUT](events: object): WholeLogout | undefined {
    if (this.removeByLogoutToken !== RedisOidcSessionRepository.prototype.removeByLogoutToken) {
      return undefined;
    }
    const side = redisEventSideOn(events, this.client, this.base);
    return side && ((event, criteria) => this.applyWhole(side, event, criteria));
  }

  private async applyWhole(
    side: RedisEventSide,
    event: OidcLogoutEventBegin,
    criteria: OidcLogoutCriteria,
  ): Promise<WholeLogoutOutcome> {
    const begin = side.beginCommand(event);
    const removal = this.removalCommand(criteria);
    const reply = arrayReply(
      await this.redis.run(
        APPLY_LOGOUT,
        [...begin.keys, ...removal.keys],
        [...begin.args, ...removal.args],
      ),
      'a logout',
    );
    if (reply.length === 1 && reply[0] === 'replay') return 'replay';
    if (reply[0] !== 'apply') {
      throw new TypeError('Redis answered a logout with neither apply nor replay');
    }
    return this.removedSessions(reply.slice(1));
  }

  /** The keys and arguments of `remove_matching` (checked first: a `TypeError` for bad criteria). */
  private removalCommand(criteria: OidcLogoutCriteria): { keys: string[]; args: string[] } {
    assertLogoutCriteria(criteria);
    const { issuer, clientId, sid, sub } = criteria;
    const index = sid
      ? this.keys.bySid(issuer, clientId, sid)
      : this.keys.bySub(issuer, clientId, sub as string);
    return {
      keys: [index, this.keys.expiries],
      args: [issuer, clientId, sid ?? '', sub ?? ''],
    };
  }

  /** The live records of a removal's reply (an id and its eight fields per record). */
  private removedSessions(reply: readonly unknown[]): OidcSessionInfo[] {
    const removed: OidcSessionInfo[] = [];
    for (let at = 0; at + 9 <= reply.length; at += 9) {
      const id = reply[at];
      if (typeof id !== 'string') continue;
      // Expired matches are deleted too, but they were already absent: not reported.
      const info = this.live(id, reply.slice(at + 1, at + 9));
      if (info) removed.push(info);
    }
    return removed;
  }

  /** Deletes the records expired at `now`; answers how many. @internal */
  async [EXPIRE_ENTRIES](now: Date): Promise<number> {
    assertValidDate(now, 'now');
    return expireInBatches(() =>
      this.redis.run(
        EXPIRE_SESSIONS,
        [this.keys.expiries],
        [String(now.getTime()), String(EXPIRE_BATCH)],
      ),
    );
  }

  /** The record in `fields` when it is whole and live at the store's clock. */
  private live(id: string, fields: readonly unknown[]): OidcSessionInfo | undefined {
    const info = sessionFromFields(id, fields);
    return info && info.expiresAt.getTime() > this.now() ? info : undefined;
  }
}
