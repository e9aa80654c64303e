import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import session from 'express-session';
import { startDevOp } from './op/dev-op';
import { PortalModule } from './portal/portal.module';

const opPort = Number(process.env.OP_PORT ?? 3000);
const portalPort = Number(process.env.PORTAL_PORT ?? 3001);
const issuer = process.env.OIDC_ISSUER ?? `http://localhost:${opPort}`;
const portalUrl = `http://localhost:${portalPort}`;
const dataDir = process.env.SAMPLE_DATA_DIR ?? join(process.cwd(), 'build', 'sample-data');

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const op = await startDevOp(issuer, opPort, [
    { clientId: 'portal', clientSecret: 'portal-dev-secret', appUrl: portalUrl },
  ]);
  const app = await NestFactory.create(
    PortalModule.register({
      issuer,
      clientId: 'portal',
      clientSecret: 'portal-dev-secret',
      appUrl: portalUrl,
      databaseFile: join(dataDir, 'portal.sqlite'),
    }),
  );
  app.use(
    session({
      secret: process.env.SESSION_SECRET ?? 'sample-only-session-secret',
      resave: false,
      saveUninitialized: true,
      cookie: { httpOnly: true, sameSite: 'lax' },
    }),
  );
  app.enableShutdownHooks();
  await app.listen(portalPort, '127.0.0.1');
  console.log(`OpenID Provider: ${issuer}\nPortal:          ${portalUrl}\nCtrl-C stops both.`);
  const stop = () => {
    op.close();
    void app.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  if (code === 'EADDRINUSE') {
    console.error(
      `A port is taken (${String((error as { port?: number }).port ?? '')}); set OP_PORT / PORTAL_PORT to free ones`,
    );
  } else {
    console.error(error);
  }
  process.exit(1);
});
