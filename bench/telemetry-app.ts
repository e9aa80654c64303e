/**
 * One app process of the telemetry section (forked by {@link TelemetryApp.start}): OpenTelemetry's
 * global providers are process-wide, so the app without an SDK (`noop`: `@opentelemetry/api`
 * loaded, no provider installed, every instrument a no-op) and the app with the SDK (`sdk`:
 * bench/telemetry-sdk.ts, installed before the app is created) each run in a process of their own,
 * both alive at once so that their routes alternate in the same rounds.
 *
 * The app (Express) is the same in both: `GET /bench/plain` and `GET /bench/guarded`
 * (`OidcSessionGuard`) behind express-session, as in the guard section; `POST /bench/baseline`
 * (the form parsed, the token verified with jose) and the library's back-channel endpoint, as in
 * the back-channel section; one in-memory session repository (the guard's sessions are not the
 * ones the logout tokens name) and an in-memory logout-event store. The parent reads this process's
 * CPU time around each run (`begin` / `end`, a forced collection first).
 */
import 'reflect-metadata';
import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Module,
  Post,
  UseGuards,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SpanKind, trace } from '@opentelemetry/api';
import session from 'express-session';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyOptions } from 'jose';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  InMemoryOidcLogoutEventStore,
  InMemoryOidcSessionRepository,
  OidcLogoutModule,
  OidcSessionGuard,
} from '../lib';
import { listenOnLoopback } from '../test/fixtures/listen';
import { seedMemorySessions, sessionIdOf, type SeedRow } from './databases';
import { SESSION_SECRET } from './guard.bench';
import { installTelemetrySdk, type InstalledSdk, type RecordedTelemetry } from './telemetry-sdk';

/** `noop`: the API without a provider; `sdk`: the SDK installed. */
export type TelemetryMode = 'noop' | 'sdk';

export const TELEMETRY_PATHS = {
  plain: '/bench/plain',
  guarded: '/bench/guarded',
  baseline: '/bench/baseline',
  backChannel: '/logout/connect/back-channel/bench',
} as const;

export interface TelemetryAppConfig {
  mode: TelemetryMode;
  seed: SeedRow;
  jwksUri: string;
  alg: string;
  /** Sessions in the repository. */
  sessions: number;
  /** Logout tokens the run may send (room in the logout-event store). */
  tokens: number;
  /** Sessions whose cookies the guard's requests carry (in express-session's store too). */
  guardSessions: readonly number[];
}

/** What the app reports at the end of the section. */
export interface TelemetryAppStats {
  sessions: number;
  /** With the SDK: what it recorded. */
  recorded?: RecordedTelemetry;
}

type Command =
  | { type: 'start'; config: TelemetryAppConfig }
  | { type: 'begin' }
  | { type: 'end' }
  | { type: 'stats' }
  | { type: 'exit' };

type Reply =
  | { type: 'started'; origin: string }
  | { type: 'begun' }
  | { type: 'ended'; cpuMs: number; eventLoopBusyMs: number }
  | { type: 'stats'; stats: TelemetryAppStats }
  | { type: 'error'; message: string };

/** The parent's handle on one app process. */
export class TelemetryApp {
  private waiting: ((reply: Reply) => void) | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly mode: TelemetryMode,
  ) {
    child.on('message', (reply: Reply) => {
      const waiter = this.waiting;
      this.waiting = undefined;
      waiter?.(reply);
    });
  }

  origin = '';

  /**
   * Forks the compiled `telemetry-app.js` next to this file (or `file`: the same built against an
   * earlier library, bench/build-before-lib.sh) and starts the app in it.
   */
  static async start(
    config: TelemetryAppConfig,
    file = join(__dirname, 'telemetry-app.js'),
  ): Promise<TelemetryApp> {
    // BENCH_TELEMETRY_PROFILE=<dir>: a CPU profile of each app process, written there at exit.
    const profile = process.env.BENCH_TELEMETRY_PROFILE?.trim();
    const child = fork(file, [], {
      execArgv: ['--expose-gc', ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [])],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const app = new TelemetryApp(child, config.mode);
    child.once('exit', (code) => {
      app.waiting?.({ type: 'error', message: `${config.mode} app exited (code ${code})` });
    });
    const reply = await app.ask({ type: 'start', config });
    if (reply.type !== 'started') throw new Error(`${config.mode} app: ${JSON.stringify(reply)}`);
    app.origin = reply.origin;
    return app;
  }

  /** A forced collection, then the CPU clock starts. */
  async begin(): Promise<void> {
    await this.ask({ type: 'begin' });
  }

  /** The process's CPU time and event-loop busy time since {@link begin}. */
  async end(): Promise<{ cpuMs: number; eventLoopBusyMs: number }> {
    const reply = await this.ask({ type: 'end' });
    if (reply.type !== 'ended') throw new Error(`${this.mode} app: ${JSON.stringify(reply)}`);
    return reply;
  }

  async stats(): Promise<TelemetryAppStats> {
    const reply = await this.ask({ type: 'stats' });
    if (reply.type !== 'stats') throw new Error(`${this.mode} app: ${JSON.stringify(reply)}`);
    return reply.stats;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'exit' } satisfies Command);
    await exited;
  }

  private ask(command: Command): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.waiting = (reply) =>
        reply.type === 'error' ? reject(new Error(reply.message)) : resolve(reply);
      this.child.send(command);
    });
  }
}

// ----- In the forked process -----------------------------------------------------------------

@Controller('bench')
class GuardRoutes {
  @Get('plain')
  plain(): { ok: true } {
    return { ok: true };
  }

  @Get('guarded')
  @UseGuards(OidcSessionGuard)
  guarded(): { ok: true } {
    return { ok: true };
  }
}

interface Served {
  origin: string;
  repository: InMemoryOidcSessionRepository;
  sdk: InstalledSdk | undefined;
  close(): Promise<void>;
}

async function serve(config: TelemetryAppConfig): Promise<Served> {
  // First: the library takes the global meter when its module is built.
  const sdk = config.mode === 'sdk' ? installTelemetrySdk() : undefined;
  const { seed } = config;
  const repository = new InMemoryOidcSessionRepository({ maxEntries: 4 * config.sessions });
  await seedMemorySessions(repository, seed, config.sessions);
  const keys = createRemoteJWKSet(new URL(config.jwksUri));
  const verifyOptions: JWTVerifyOptions = {
    algorithms: [config.alg],
    issuer: seed.issuer,
    audience: seed.clientId,
  };

  /** The bare route: what an app verifying the token by hand with jose would do. */
  @Controller('bench')
  class BaselineRoute {
    @Post('baseline')
    @HttpCode(200)
    async logout(@Body() body: Record<string, unknown> | undefined): Promise<void> {
      const token = body?.logout_token;
      if (typeof token !== 'string') throw new BadRequestException('logout_token is missing');
      try {
        await jwtVerify(token, keys, verifyOptions);
      } catch {
        throw new BadRequestException('invalid logout token');
      }
    }
  }

  @Module({
    imports: [
      OidcLogoutModule.forRoot({
        clients: [
          { registrationId: seed.registrationId, issuer: seed.issuer, clientId: seed.clientId },
        ],
        sessionRepository: repository,
        logoutEventStore: new InMemoryOidcLogoutEventStore({ maxEntries: 4 * config.tokens }),
      }),
    ],
    controllers: [GuardRoutes, BaselineRoute],
  })
  class TelemetryBenchModule {}

  const app = await NestFactory.create(TelemetryBenchModule as Type, { logger: ['error', 'warn'] });
  // With the SDK, every request in a server span of its own, made active, as the SDK's HTTP
  // instrumentation would: the bare routes then pay what tracing costs any route (the context
  // manager's hooks, one span), and SDK / bare in the SDK process is what the library adds to that.
  if (sdk) app.use(serverSpans());
  const store = new session.MemoryStore();
  const expires = new Date(seed.expiresAt);
  for (const i of config.guardSessions) {
    store.set(sessionIdOf(i), {
      cookie: { originalMaxAge: 24 * 3600 * 1000, expires, httpOnly: true, path: '/' },
    });
  }
  // Only on the guard's routes, as an app with sessions would have it; the logout routes take none.
  app.use(
    [TELEMETRY_PATHS.plain, TELEMETRY_PATHS.guarded],
    session({
      secret: SESSION_SECRET,
      store,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 24 * 3600 * 1000 },
    }),
  );
  const origin = await listenOnLoopback(app);
  return {
    origin,
    repository,
    sdk,
    close: async () => {
      await app.close();
      await sdk?.shutdown();
    },
  };
}

if (require.main === module && process.send) {
  const reply = (message: Reply) => process.send?.(message);
  let served: Served | undefined;
  let cpuAtBegin = process.cpuUsage();
  let eventLoopAtBegin = performance.eventLoopUtilization();
  const handle = async (command: Command): Promise<void> => {
    switch (command.type) {
      case 'start':
        served = await serve(command.config);
        reply({ type: 'started', origin: served.origin });
        return;
      case 'begin':
        (globalThis as { gc?: () => void }).gc?.();
        cpuAtBegin = process.cpuUsage();
        eventLoopAtBegin = performance.eventLoopUtilization();
        reply({ type: 'begun' });
        return;
      case 'end': {
        const cpu = process.cpuUsage(cpuAtBegin);
        reply({
          type: 'ended',
          cpuMs: (cpu.user + cpu.system) / 1000,
          eventLoopBusyMs: performance.eventLoopUtilization(eventLoopAtBegin).active,
        });
        return;
      }
      case 'stats': {
        const recorded = await served?.sdk?.recorded();
        reply({
          type: 'stats',
          stats: { sessions: served?.repository.size ?? 0, ...(recorded ? { recorded } : {}) },
        });
        return;
      }
      case 'exit':
        await served?.close();
        process.disconnect();
        // Should a handle keep it alive (the JWKS fetch's sockets), end anyway.
        setTimeout(() => process.exit(0), 2000).unref();
        return;
    }
  };
  process.on('message', (command: Command) => {
    handle(command).catch((error: unknown) =>
      reply({
        type: 'error',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
    );
  });
}

/** Express middleware: each request in an active server span, ended when the answer is sent. */
function serverSpans() {
  const tracer = trace.getTracer('bench-http');
  return (request: { method?: string }, response: NodeJS.EventEmitter, next: () => void) => {
    tracer.startActiveSpan(`${request.method ?? 'GET'}`, { kind: SpanKind.SERVER }, (span) => {
      response.once('finish', () => span.end());
      next();
    });
  };
}
