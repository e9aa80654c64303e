/** The PostgreSQL channel on which removals of `oidc_sessions` rows are announced. */
export const REMOVAL_CHANNEL = 'oidc_logout_sessions_removed';

/** What the feed reports. */
export interface RemovalFeedListener {
  /** A session id was removed, by this instance or another. */
  removed(id: string): void;
  /** The feed is listening (`true`), or lost its connection (`false`; it reconnects by itself). */
  connected(up: boolean): void;
}

/** The part of a `pg` client the feed uses. */
interface ListeningClient {
  query(sql: string): Promise<unknown>;
  on(
    event: 'notification',
    listener: (message: { channel: string; payload?: string }) => void,
  ): unknown;
  on(event: 'error' | 'end', listener: (error?: unknown) => void): unknown;
  removeAllListeners(event?: string): unknown;
}

/** TypeORM's PostgreSQL driver: a connection of its pool, and its release (`true`: destroy it). */
export interface PostgresConnectionSource {
  obtainMasterConnection(): Promise<[unknown, (error?: unknown) => void]>;
}

/**
 * Holds one connection of the pool in `LISTEN` on {@link REMOVAL_CHANNEL} and reports each removed
 * session id (the repository's `DELETE` statements `pg_notify` them; PostgreSQL delivers a
 * notification when, and only if, its transaction commits). When the connection fails or ends, it
 * reports `connected(false)` and tries again every `retryMs`; notifications sent meanwhile are
 * lost, which is why the cache forgets everything when the feed goes down.
 */
export class PostgresRemovalFeed {
  private client: ListeningClient | undefined;
  private release: ((error?: unknown) => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly source: PostgresConnectionSource,
    private readonly listener: RemovalFeedListener,
    private readonly retryMs = 1000,
  ) {}

  /** Connects (once; on failure it keeps trying in the background) and resolves either way. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  /** Stops listening and gives the connection back (destroyed): call it before the pool ends. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.drop();
    return Promise.resolve();
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.client) return;
    try {
      const [connection, release] = await this.source.obtainMasterConnection();
      const client = connection as ListeningClient;
      this.client = client;
      this.release = release;
      client.on('notification', (message) => {
        if (message.channel === REMOVAL_CHANNEL && message.payload) {
          this.listener.removed(message.payload);
        }
      });
      client.on('error', () => this.lost(client));
      client.on('end', () => this.lost(client));
      await client.query(`LISTEN ${REMOVAL_CHANNEL}`);
      if (this.client !== client) return; // lost or stopped meanwhile
      if (this.stopped) {
        this.drop();
        return;
      }
      this.listener.connected(true);
    } catch {
      this.lost(this.client);
    }
  }

  private lost(client: ListeningClient | undefined): void {
    if (client !== undefined && client !== this.client) return;
    this.drop();
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, this.retryMs);
    this.retry.unref();
  }

  /** Reports the feed down and destroys the connection, if there is one. */
  private drop(): void {
    const client = this.client;
    const release = this.release;
    this.client = undefined;
    this.release = undefined;
    this.listener.connected(false);
    if (client) {
      // Its 'error' listener stays (a no-op now that it is not the feed's client): a failing socket
      // must not crash the process.
      client.removeAllListeners('notification');
      release?.(new Error('removal feed closed'));
    }
  }
}
