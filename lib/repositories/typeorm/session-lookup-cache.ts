/**
 * Limits of the guard's lookup cache (see `TypeOrmOidcSessionRepositoryOptions.lookupCache`).
 *
 * @publicApi
 */
export interface SessionLookupCacheOptions {
  /**
   * Longest time a live session is answered from memory, in milliseconds, also when no removal
   * notification reaches this instance (the bound if a notification were ever lost while the
   * connection looked healthy). Never past the session's own `expiresAt`. Default `5000`.
   */
  ttlMs?: number;
  /** Most sessions remembered; the oldest is dropped first. Default `10000`. */
  maxEntries?: number;
}

/**
 * Remembers which session ids were live, for at most `ttlMs`, so that the guard answers a repeated
 * session from memory. It only ever remembers "live", never "absent", and only while the removal
 * feed is connected: every removal anywhere (reported by {@link SessionLookupCache.forget}) drops
 * the id at once, a lost feed drops everything and stops remembering until it is back.
 *
 * A lookup that raced a removal must not put the id back: {@link SessionLookupCache.remember} takes
 * the {@link SessionLookupCache.epoch} read before the lookup began and refuses if anything was
 * forgotten (or the feed changed state) since.
 */
export class SessionLookupCache {
  /** Session id -> remembered until (epoch ms). Insertion-ordered: the first is the oldest. */
  private readonly entries = new Map<string, number>();
  private counter = 0;
  private live = false;
  readonly ttlMs: number;
  readonly maxEntries: number;

  constructor(options: SessionLookupCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.maxEntries = options.maxEntries ?? 10_000;
    for (const [name, value] of Object.entries({
      ttlMs: this.ttlMs,
      maxEntries: this.maxEntries,
    })) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(
          `lookupCache.${name} must be a positive integer, got ${String(value)}`,
        );
      }
    }
  }

  /** Whether `id` is remembered live at `now`. `false` means "ask the database", not "absent". */
  has(id: string, now: number): boolean {
    const until = this.entries.get(id);
    if (until === undefined) return false;
    if (until > now) return true;
    this.entries.delete(id);
    return false;
  }

  /** Read before a lookup; pass it to {@link SessionLookupCache.remember} with its answer. */
  get epoch(): number {
    return this.counter;
  }

  /** Whether the removal feed is connected (nothing is remembered otherwise). */
  get connected(): boolean {
    return this.live;
  }

  /**
   * Remembers `id` live until `min(now + ttlMs, expiresAt)`, unless the feed is down or anything
   * was forgotten since `epoch`.
   */
  remember(id: string, expiresAt: number, now: number, epoch: number): void {
    if (!this.live || epoch !== this.counter) return;
    const until = Math.min(now + this.ttlMs, expiresAt);
    if (until <= now) return;
    this.entries.delete(id);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(id, until);
  }

  /** Drops removed ids (from this instance or, through the feed, another). */
  forget(ids: Iterable<string>): void {
    this.counter++;
    for (const id of ids) this.entries.delete(id);
  }

  /** The feed connected (`true`: remember from now on) or was lost (`false`): drops everything. */
  setConnected(connected: boolean): void {
    this.counter++;
    this.live = connected;
    this.entries.clear();
  }

  /** How many ids are remembered (expired ones not yet dropped included). */
  get size(): number {
    return this.entries.size;
  }
}
