/**
 * In-process measurements, no HTTP:
 *
 * - The guard's own cost per request: `OidcSessionGuard.canActivate` called in a tight loop over
 *   prepared requests (1,024, each with the session id of a recorded session, in-memory repository
 *   holding 100,000 sessions), called through Nest's own
 *   `GuardsConsumer.tryActivate` as a route does (it makes the `ExecutionContext`, uses a `boolean`
 *   as it is and awaits anything else), against a no-op guard returning `true` called the same way
 *   (the baseline: what Nest's guard call costs anyway; an async no-op guard is measured too, for
 *   reference). Alternated in rounds; the figure is the difference per call. The 1,024 sessions stay
 *   in the CPU caches here: in a whole request the lookup is colder and costs a few microseconds
 *   more (see guard.bench.ts). Allocation per call: `heapUsed` growth over a batch run after two
 *   forced collections; batches during which a collection ran (seen by a `gc` PerformanceObserver)
 *   are discarded.
 * - Memory per session of the in-memory repository: `heapUsed` after `gc()` before and after
 *   saving N sessions (N = 100,000 by default), as the difference per session. Two figures: what
 *   the repository adds while the caller still holds the session infos (its maps and records), and
 *   everything it keeps alive once the caller dropped them (its own copies of the session id digest,
 *   `sid` and `sub` included); the ID token, one string shared by every session here, is not
 *   counted (a real one is ~1 KB per session: the library keeps it for `id_token_hint`).
 *
 * Needs `node --expose-gc`.
 */
import 'reflect-metadata';
import {
  Controller,
  Get,
  Module,
  type CanActivate,
  type ExecutionContext,
  type INestApplicationContext,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GuardsConsumer } from '@nestjs/core/guards/guards-consumer';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { hashSessionId, hashSid } from '../lib/repositories/session-id-hash';
import {
  InMemoryOidcSessionRepository,
  OidcLogoutModule,
  OidcSessionGuard,
  type OidcSessionInfo,
} from '../lib';
import { sessionIdOf, sidOf, subOf } from './databases';
import { env, fixed, loadAverage, markdownTable } from './report';

const CLIENT_ID = 'bench-client';
const REGISTRATION_ID = 'bench';
const ISSUER = 'https://op.bench.example';

export interface GuardCostResult {
  calls: number;
  rounds: number;
  /** Median over rounds, CPU nanoseconds per call. */
  guardNsPerCall: number;
  noopNsPerCall: number;
  /** A no-op `async` guard, for reference (what any promise-returning guard costs). */
  asyncNoopNsPerCall: number;
  /** guard - no-op, CPU microseconds. */
  guardOwnUs: number;
  /** The same in elapsed time (inflated when other processes share the cores). */
  guardOwnWallUs: number;
  roundDifferencesUs: number[];
  /** heapUsed growth per call (bytes), median over batches without a collection. */
  guardBytesPerCall: number;
  noopBytesPerCall: number;
  asyncNoopBytesPerCall: number;
  loadAverage: number;
}

export interface MemoryResult {
  sessions: number;
  /** Bytes per session the repository adds while the caller still holds the infos. */
  structureBytesPerSession: number;
  /** Bytes per session kept alive by the repository alone (its copies of the strings included). */
  retainedBytesPerSession: number;
  idTokenLength: number;
  loadAverage: number;
}

export interface MicroResults {
  guard: GuardCostResult;
  memory: MemoryResult;
}

@Controller()
class MicroController {
  @Get('bench/guarded')
  guarded(): string {
    return 'ok';
  }
}

/** The baseline guard: what any guard costs Nest, doing nothing. */
class NoopGuard implements CanActivate {
  canActivate(_context: ExecutionContext): boolean {
    return true;
  }
}

/** A no-op guard returning a promise (this bench's earlier baseline), for reference. */
class AsyncNoopGuard implements CanActivate {
  // eslint-disable-next-line @typescript-eslint/require-await
  async canActivate(_context: ExecutionContext): Promise<boolean> {
    return true;
  }
}

const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with node --expose-gc');
  collect();
  collect();
};

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function infoOf(i: number, idToken: string, now: number): OidcSessionInfo {
  return {
    clientSessionId: hashSessionId(sessionIdOf(i)),
    registrationId: REGISTRATION_ID,
    issuer: ISSUER,
    clientId: CLIENT_ID,
    sid: hashSid(sidOf(i)),
    sub: subOf(i),
    idToken,
    createdAt: new Date(now),
    expiresAt: new Date(now + 24 * 3600 * 1000),
  };
}

async function createGuardApp(
  repository: InMemoryOidcSessionRepository,
): Promise<INestApplicationContext> {
  @Module({
    imports: [
      OidcLogoutModule.forRoot({
        // A static JWKS URI: nothing is fetched, the guard never verifies a token.
        clients: [
          {
            registrationId: REGISTRATION_ID,
            issuer: ISSUER,
            clientId: CLIENT_ID,
            discovery: false,
            jwksUri: `${ISSUER}/jwks`,
          },
        ],
        sessionRepository: repository,
      }),
    ],
    controllers: [MicroController],
  })
  class MicroModule {}
  return NestFactory.createApplicationContext(MicroModule as Type, { logger: ['error'] });
}

interface Timing {
  /** Elapsed nanoseconds per call. */
  wallNs: number;
  /** CPU nanoseconds per call (user + system, every thread of the process: GC helpers too). */
  cpuNs: number;
}

/** What Nest's router hands its guards for one request: `[req, res, next]`. */
type RequestArgs = [request: unknown, response: unknown, next: () => void];

/** Calls one guard as a guarded route does. */
class NestGuardCall {
  private readonly consumer = new GuardsConsumer();
  private readonly guards: CanActivate[];

  constructor(
    guard: CanActivate,
    private readonly controller: object,
    private readonly handler: (...args: unknown[]) => unknown,
  ) {
    this.guards = [guard];
  }

  activate(args: RequestArgs): Promise<boolean> {
    return this.consumer.tryActivate(this.guards, args, this.controller, this.handler, 'http');
  }
}

/**
 * `calls` calls of `guard.canActivate`, cycling over `requests`. The CPU time is the figure to
 * read on a shared machine: elapsed time also counts the time other processes held the core.
 */
async function timeCalls(
  call: NestGuardCall,
  requests: readonly RequestArgs[],
  calls: number,
): Promise<Timing> {
  const mask = requests.length - 1;
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    if (!(await call.activate(requests[i & mask]!))) throw new Error('guard refused');
  }
  const wallNs = ((performance.now() - start) * 1e6) / calls;
  const used = process.cpuUsage(cpu);
  return { wallNs, cpuNs: ((used.user + used.system) * 1000) / calls };
}

/** The start times of the garbage collections seen so far (`performance.now()` clock). */
const collections: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) collections.push(entry.startTime);
});

/** heapUsed growth per call over a batch after a collection; undefined if one ran during it. */
async function bytesPerCall(
  call: NestGuardCall,
  requests: readonly RequestArgs[],
  calls: number,
): Promise<number | undefined> {
  const mask = requests.length - 1;
  gc();
  const start = performance.now();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) await call.activate(requests[i & mask]!);
  const grown = process.memoryUsage().heapUsed - before;
  const end = performance.now();
  // The observer hears of a collection a little later.
  await new Promise((resolve) => setTimeout(resolve, 5));
  if (collections.some((t) => t >= start && t <= end)) return undefined;
  return Math.max(0, grown) / calls;
}

export async function measureGuardCost(): Promise<GuardCostResult> {
  const sessions = env('BENCH_MICRO_SESSIONS', 100_000);
  const callsPerRound = env('BENCH_MICRO_CALLS', 200_000);
  const rounds = env('BENCH_MICRO_ROUNDS', 7);
  const repository = new InMemoryOidcSessionRepository({ maxEntries: sessions });
  const now = Date.now();
  for (let i = 0; i < sessions; i++) await repository.save(infoOf(i, 'id-token', now));
  const app = await createGuardApp(repository);
  try {
    const controller = app.get(MicroController);
    const handler = MicroController.prototype.guarded;
    const guard = new NestGuardCall(app.get(OidcSessionGuard), controller, handler);
    const noop = new NestGuardCall(new NoopGuard(), controller, handler);
    const asyncNoop = new NestGuardCall(new AsyncNoopGuard(), controller, handler);
    // 1,024 requests of distinct recorded sessions, as express-session leaves them.
    const requests: RequestArgs[] = [];
    for (let i = 0; i < 1024; i++) {
      const id = sessionIdOf((i * 97) % sessions);
      const request = { sessionID: id, session: { id }, headers: { accept: 'application/json' } };
      const response = { setHeader: () => undefined };
      requests.push([request, response, () => undefined]);
    }
    // Warm-up (JIT), then alternate.
    await timeCalls(guard, requests, callsPerRound);
    await timeCalls(noop, requests, callsPerRound);
    await timeCalls(asyncNoop, requests, callsPerRound);
    const guardNs: number[] = [];
    const noopNs: number[] = [];
    const asyncNoopNs: number[] = [];
    const guardWall: number[] = [];
    const noopWall: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const n = await timeCalls(noop, requests, callsPerRound);
      const g = await timeCalls(guard, requests, callsPerRound);
      const a = await timeCalls(asyncNoop, requests, callsPerRound);
      noopNs.push(n.cpuNs);
      guardNs.push(g.cpuNs);
      asyncNoopNs.push(a.cpuNs);
      noopWall.push(n.wallNs);
      guardWall.push(g.wallNs);
    }
    const guardBytes: number[] = [];
    const noopBytes: number[] = [];
    const asyncNoopBytes: number[] = [];
    gcObserver.observe({ entryTypes: ['gc'] });
    try {
      for (let batch = 0; batch < 9; batch++) {
        const g = await bytesPerCall(guard, requests, 2_000);
        if (g !== undefined) guardBytes.push(g);
        const n = await bytesPerCall(noop, requests, 2_000);
        if (n !== undefined) noopBytes.push(n);
        const a = await bytesPerCall(asyncNoop, requests, 2_000);
        if (a !== undefined) asyncNoopBytes.push(a);
      }
    } finally {
      gcObserver.disconnect();
    }
    return {
      calls: callsPerRound,
      rounds,
      guardNsPerCall: median(guardNs),
      noopNsPerCall: median(noopNs),
      asyncNoopNsPerCall: median(asyncNoopNs),
      guardOwnUs: (median(guardNs) - median(noopNs)) / 1000,
      guardOwnWallUs: (median(guardWall) - median(noopWall)) / 1000,
      roundDifferencesUs: guardNs.map((g, i) => (g - noopNs[i]!) / 1000),
      guardBytesPerCall: guardBytes.length ? median(guardBytes) : Number.NaN,
      noopBytesPerCall: noopBytes.length ? median(noopBytes) : Number.NaN,
      asyncNoopBytesPerCall: asyncNoopBytes.length ? median(asyncNoopBytes) : Number.NaN,
      loadAverage: loadAverage(),
    };
  } finally {
    await app.close();
  }
}

interface SessionStrings {
  clientSessionIds: string[];
  sids: string[];
  subs: string[];
}

function sessionStrings(count: number): SessionStrings {
  const strings: SessionStrings = { clientSessionIds: [], sids: [], subs: [] };
  for (let i = 0; i < count; i++) {
    strings.clientSessionIds.push(hashSessionId(sessionIdOf(i)));
    // As stored (a digest); flattened (a template literal may stay a rope of two strings until read).
    strings.sids.push(hashSid(sidOf(i)).normalize());
    strings.subs.push(subOf(i).normalize());
  }
  return strings;
}

/** Saves the sessions (synchronous under the hood: no async frame holds on to the infos). */
function saveAll(
  repository: InMemoryOidcSessionRepository,
  strings: SessionStrings,
  idToken: string,
  now: number,
): void {
  for (let i = 0; i < strings.sids.length; i++) {
    void repository.save({
      clientSessionId: strings.clientSessionIds[i]!,
      registrationId: REGISTRATION_ID,
      issuer: ISSUER,
      clientId: CLIENT_ID,
      sid: strings.sids[i],
      sub: strings.subs[i]!,
      idToken,
      createdAt: new Date(now),
      expiresAt: new Date(now + 24 * 3600 * 1000),
    });
  }
}

export function measureMemoryPerSession(): MemoryResult {
  const sessions = env('BENCH_MEMORY_SESSIONS', 100_000);
  const idToken = 'header.payload.signature'.padEnd(800, 'x');
  const now = Date.now();
  const repository = new InMemoryOidcSessionRepository({ maxEntries: sessions });
  gc();
  const empty = process.memoryUsage().heapUsed;
  // Held through an object, so that dropping them is a visible step.
  const held: { strings?: SessionStrings } = { strings: sessionStrings(sessions) };
  gc();
  const withStrings = process.memoryUsage().heapUsed;
  saveAll(repository, held.strings!, idToken, now);
  gc();
  const saved = process.memoryUsage().heapUsed;
  delete held.strings;
  gc();
  const retained = process.memoryUsage().heapUsed;
  if (repository.size !== sessions) {
    throw new Error(`the repository holds ${repository.size} of ${sessions} sessions`);
  }
  return {
    sessions,
    structureBytesPerSession: (saved - withStrings) / sessions,
    retainedBytesPerSession: (retained - empty) / sessions,
    idTokenLength: idToken.length,
    loadAverage: loadAverage(),
  };
}

export async function runMicroBench(): Promise<MicroResults> {
  const memory = measureMemoryPerSession();
  console.log(
    `memory per session (${memory.sessions} sessions): repository structures ${fixed(memory.structureBytesPerSession)} B, retained ${fixed(memory.retainedBytesPerSession)} B (load ${memory.loadAverage})`,
  );
  const guard = await measureGuardCost();
  console.log(
    `guard canActivate: ${fixed(guard.guardNsPerCall)} ns/call vs no-op ${fixed(guard.noopNsPerCall)} ns/call: own cost ${fixed(guard.guardOwnUs, 2)} µs CPU, ${fixed(guard.guardOwnWallUs, 2)} µs elapsed ` +
      `(rounds ${guard.roundDifferencesUs.map((d) => fixed(d, 2)).join(', ')}); heap ${fixed(guard.guardBytesPerCall, 1)} B/call vs ${fixed(guard.noopBytesPerCall, 1)} B/call; ` +
      `async no-op guard ${fixed(guard.asyncNoopNsPerCall)} ns/call, ${fixed(guard.asyncNoopBytesPerCall, 1)} B/call (load ${guard.loadAverage})`,
  );
  return { guard, memory };
}

export function microTables(results: MicroResults): string {
  const { guard, memory } = results;
  return [
    markdownTable(
      [
        'guard in-process (in-memory repository)',
        'guard CPU ns/call',
        'no-op guard CPU ns/call (baseline)',
        'guard own cost µs (CPU / elapsed)',
        'round spread µs (CPU)',
        'heap B/call (guard / no-op)',
        'async no-op guard ns/call, B/call (reference)',
        'load avg',
      ],
      [
        [
          `canActivate x ${guard.calls} x ${guard.rounds} rounds`,
          fixed(guard.guardNsPerCall),
          fixed(guard.noopNsPerCall),
          `${fixed(guard.guardOwnUs, 2)} / ${fixed(guard.guardOwnWallUs, 2)}`,
          `${fixed(Math.min(...guard.roundDifferencesUs), 2)} to ${fixed(Math.max(...guard.roundDifferencesUs), 2)}`,
          `${fixed(guard.guardBytesPerCall, 1)} / ${fixed(guard.noopBytesPerCall, 1)}`,
          `${fixed(guard.asyncNoopNsPerCall)}, ${fixed(guard.asyncNoopBytesPerCall, 1)}`,
          String(guard.loadAverage),
        ],
      ],
    ),
    markdownTable(
      [
        'in-memory repository',
        'sessions',
        'B/session added (caller keeps infos)',
        'B/session retained (own strings, no ID token)',
        'load avg',
      ],
      [
        [
          'heapUsed after gc()',
          String(memory.sessions),
          fixed(memory.structureBytesPerSession),
          fixed(memory.retainedBytesPerSession),
          String(memory.loadAverage),
        ],
      ],
    ),
  ].join('\n\n');
}

if (require.main === module) {
  runMicroBench()
    .then((results) => console.log(`\n${microTables(results)}\n`))
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
