/** Injection token of the {@link SampleAppSettings} of one app. */
export const SAMPLE_APP_SETTINGS = Symbol('SAMPLE_APP_SETTINGS');

/** The `registrationId` of the OP in both apps: its back-channel URL ends with it. */
export const REGISTRATION_ID = 'sso';

/** What makes Portal and Games different: the shared app factory is built from this. */
export interface SampleAppSettings {
  /** 'Portal' or 'Games': page titles, the passport strategy name, the session cookie name. */
  name: string;
  /** The app's public URL, e.g. `http://localhost:3001` (redirect URIs are built from it). */
  url: string;
  /** Header colour of its pages. */
  color: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** For OPs that send logout tokens without `exp` (Keycloak up to 23.0.3). */
  legacyLogoutTokens: boolean;
  /** Registered at the OP for front-channel logout too (`sessionRequired`). */
  frontChannel: boolean;
  /**
   * Keep `sid`s off the pages, `/me` and the log: set when either app has front-channel logout, as
   * an OP may give both apps the same `sid` (Glewlwyd does), and a known `sid` is enough to call the
   * front-channel URL.
   */
  hideSids: boolean;
  /** The app's SQLite file (TypeORM). */
  databaseFile: string;
  /** The other app, linked from this one's pages. */
  otherApp: { name: string; url: string };
  /** Where the app prints the logouts it receives (the terminal by default). */
  log: (line: string) => void;
}
