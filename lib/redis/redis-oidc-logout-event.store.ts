import {
  assertLogoutEventBegin,
  assertLogoutEventKey,
  assertValidDate,
  EXPIRE_ENTRIES,
  OidcLogoutEventStore,
  type OidcLogoutEventBegin,
  type OidcLogoutEventOutcome,
} from '../logout-events/oidc-logout-event.store';
import { EXPIRE_BATCH, expireInBatches } from './redis-expiry';
import { redisCommands, type RedisClientLike, type RedisCommands } from './redis-client';
import {
  BEGIN_LOGOUT_EVENT,
  COMPLETE_LOGOUT_EVENT,
  EXPIRE_LOGOUT_EVENTS,
  FIND_TOMBSTONES,
} from './redis-event-scripts';
import { EXPIRED_ENTRY_GRACE_MS, redisKeyBase, RedisEventKeys } from './redis-keys';
import { arrayReply, epochMs } from './redis-replies';
import type { RedisStoreOptions } from './redis-store.options';
import {
  REDIS_EVENT_SIDE,
  type RedisEventCommand,
  type RedisEventSide,
} from './redis-whole-logout';

/**
 * An {@link OidcLogoutEventStore} in Redis (replay claims of logout tokens, tombstones), for the app
 * instances that share a `RedisOidcSessionRepository`. It takes the app's own client (ioredis or
 * node-redis). `begin` records a claim and a tombstone in one Lua script; a Redis that does not
 * answer makes every call reject, and the logout is kept and applied once it answers again.
 *
 * ```ts
 * OidcLogoutModule.forRoot({ logoutEventStore: RedisOidcLogoutEventStore.with(redis), ... })
 * ```
 *
 * @publicApi
 */
export class RedisOidcLogoutEventStore extends OidcLogoutEventStore {
  private readonly client: RedisClientLike;
  private readonly base: string;
  private readonly redis: RedisCommands;
  private readonly keys: RedisEventKeys;
  private readonly now: () => number;

  /** A store on `client`: `new RedisOidcLogoutEventStore(client, options)`. */
  static with(client: RedisClientLike, options?: RedisStoreOptions): RedisOidcLogoutEventStore {
    return new RedisOidcLogoutEventStore(client, options);
  }

  constructor(client: RedisClientLike, options: RedisStoreOptions = {}) {
    super();
    this.client = client;
    this.redis = redisCommands(client);
    this.base = redisKeyBase(options.keyPrefix);
    this.keys = new RedisEventKeys(this.base);
    this.now = options.now ?? Date.now;
  }

  override async begin(event: OidcLogoutEventBegin): Promise<OidcLogoutEventOutcome> {
    const { keys, args } = this.beginCommand(event);
    const outcome = await this.redis.run(BEGIN_LOGOUT_EVENT, keys, args);
    if (outcome !== 'apply' && outcome !== 'replay') {
      throw new TypeError('Redis answered a logout event with neither apply nor replay');
    }
    return outcome;
  }

  override async complete(claimKey: string): Promise<void> {
    assertLogoutEventKey(claimKey);
    await this.redis.run(
      COMPLETE_LOGOUT_EVENT,
      [this.keys.expiries, this.keys.claim(claimKey)],
      this.clock(),
    );
  }

  override async findTombstones(keys: readonly string[]): Promise<Map<string, number>> {
    for (const key of keys) assertLogoutEventKey(key);
    const unique = [...new Set(keys)];
    const found = new Map<string, number>();
    if (unique.length === 0) return found;
    const reply = arrayReply(
      await this.redis.run(
        FIND_TOMBSTONES,
        [this.keys.expiries, ...unique.map((key) => this.keys.tombstone(key))],
        this.clock(),
      ),
      'a tombstone lookup',
    );
    // A tombstone read as absent would let a login issued before its logout through: anything but
    // one nil or non-negative integer per key rejects, and the login fails closed.
    if (reply.length !== unique.length) {
      throw new TypeError('Redis answered a tombstone lookup with a value count unlike the keys');
    }
    unique.forEach((key, at) => {
      if (reply[at] === null) return;
      const issuedAt = epochMs(reply[at]);
      if (issuedAt === undefined || issuedAt < 0) {
        throw new TypeError('Redis answered a tombstone lookup with a value that is no epoch');
      }
      found.set(key, issuedAt);
    });
    return found;
  }

  /** Deletes the entries expired at `now`; answers how many. @internal */
  async [EXPIRE_ENTRIES](now: Date): Promise<number> {
    assertValidDate(now, 'now');
    return expireInBatches(() =>
      this.redis.run(
        EXPIRE_LOGOUT_EVENTS,
        [this.keys.expiries],
        [String(now.getTime()), String(EXPIRED_ENTRY_GRACE_MS), String(EXPIRE_BATCH)],
      ),
    );
  }

  /**
   * What the session repository on the same client and key prefix needs to apply a logout whole,
   * in one script (see `redis-whole-logout.ts`); `undefined` when a subclass overrides `begin` or
   * `complete`.
   *
   * @internal
   */
  [REDIS_EVENT_SIDE](): RedisEventSide | undefined {
    if (
      this.begin !== RedisOidcLogoutEventStore.prototype.begin ||
      this.complete !== RedisOidcLogoutEventStore.prototype.complete
    ) {
      return undefined;
    }
    return {
      client: this.client,
      base: this.base,
      beginCommand: (event) => this.beginCommand(event),
    };
  }

  /** The keys and arguments of `begin` (checked first: a `TypeError` for a bad event). */
  private beginCommand(event: OidcLogoutEventBegin): RedisEventCommand {
    assertLogoutEventBegin(event);
    const { claim, tombstone } = event;
    const keys = [this.keys.expiries];
    if (claim) keys.push(this.keys.claim(claim.key));
    if (tombstone) keys.push(this.keys.tombstone(tombstone.key));
    const args = [
      ...this.clock(),
      claim ? String(claim.expiresAt.getTime()) : '',
      claim ? `c:${claim.key}` : '',
      tombstone ? String(tombstone.issuedAt) : '',
      tombstone ? String(tombstone.expiresAt.getTime()) : '',
      tombstone ? `t:${tombstone.key}` : '',
    ];
    return { keys, args };
  }

  /** The first two arguments of every script: the store's clock and the grace. */
  private clock(): string[] {
    return [String(this.now()), String(EXPIRED_ENTRY_GRACE_MS)];
  }
}
