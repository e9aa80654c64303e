import { randomBytes } from 'node:crypto';
import { ConsoleLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import session from 'express-session';
import passport from 'passport';
import { PortInUseError } from '../ports';
import { SampleAppModule } from './sample-app.module';
import type { SampleAppSettings } from './sample-app.settings';

/** A running sample app. */
export interface SampleApp {
  readonly name: string;
  readonly url: string;
  close(): Promise<void>;
}

/** Creates one sample app with express-session and passport, and listens on `host:port`. */
export async function startSampleApp(
  settings: SampleAppSettings,
  port: number,
  host: string,
): Promise<SampleApp> {
  const app = await NestFactory.create(SampleAppModule.register(settings), {
    logger: new ConsoleLogger({ prefix: settings.name, logLevels: ['warn', 'error', 'fatal'] }),
    abortOnError: false,
    forceCloseConnections: true,
  });
  app.use(
    session({
      // One cookie name per app: browsers share cookies across the ports of one host.
      name: `${settings.name.toLowerCase()}.sid`,
      // Sessions live in memory (express-session's MemoryStore) and end with the process.
      secret: randomBytes(32).toString('base64url'),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax' },
    }),
  );
  app.use(passport.session());
  try {
    await app.listen(port, host);
  } catch (error) {
    await app.close();
    const code = (error as NodeJS.ErrnoException).code;
    const envName = `${settings.name.toUpperCase()}_PORT`;
    throw code === 'EADDRINUSE' ? new PortInUseError(port, `${settings.name} (${envName})`) : error;
  }
  return { name: settings.name, url: settings.url, close: () => app.close() };
}
