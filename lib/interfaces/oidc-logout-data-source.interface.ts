/**
 * A TypeORM `DataSource`, as the root options name it: the members the module checks before it hands
 * the object to its TypeORM stores (`nest-oidc-logout/typeorm`), written without typeorm's types, so
 * that the root entry's declarations compile in an app that does not install `typeorm` (an optional
 * peer). Any TypeORM `DataSource` (0.3 or 1.x) fits; pass yours as it is.
 *
 * @publicApi
 */
export interface OidcLogoutDataSource {
  /** The DataSource's options; the stores read the driver `type` (e.g. `'postgres'`). */
  readonly options: { readonly type: string };
  /** Whether `initialize()` has run; the stores initialize it at startup otherwise. */
  readonly isInitialized: boolean;
  initialize(): Promise<unknown>;
  getRepository(target: never): unknown;
}
