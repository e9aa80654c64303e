/**
 * In-process measurements, no HTTP:
 *
 * - The guard's own cost per request: `OidcSessionGuard.canActivate` called in a tight loop with
 *   prepared `ExecutionContext`s (1,024 requests, each with the session id of a recorded session,
 *   in-memory repository holding 100,000 sessions), against a no-op async guard called the same way
 *   (the baseline: what Nest's guard call costs anyway). Alternated in rounds; the figure is the
 *   difference per call. Allocation per call: `heapUsed` growth over a batch run between two forced
 *   collections (no collection inside the batch; batches where one happened are discarded).
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
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { performance } from 'node:perf_hooks';
import {
  hashSessionId,
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
  /** guard - no-op, CPU microseconds. */
  guardOwnUs: number;
  /** The same in elapsed time (inflated when other processes share the cores). */
  guardOwnWallUs: number;
  roundDifferencesUs: number[];
  /** heapUsed growth per call (bytes), median over batches without a collection. */
  guardBytesPerCall: number;
  noopBytesPerCall: number;
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

/** The baseline guard: what any async guard costs Nest, doing nothing. */
class NoopGuard implements CanActivate {
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
    sid: sidOf(i),
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

/**
 * `calls` calls of `guard.canActivate`, cycling over `contexts`. The CPU time is the figure to
 * read on a shared machine: elapsed time also counts the time other processes held the core.
 */
async function timeCalls(
  guard: CanActivate,
  contexts: readonly ExecutionContext[],
  calls: number,
): Promise<Timing> {
  const mask = contexts.length - 1;
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    if (!(await guard.canActivate(contexts[i & mask]!))) throw new Error('guard refused');
  }
  const wallNs = ((performance.now() - start) * 1e6) / calls;
  const used = process.cpuUsage(cpu);
  return { wallNs, cpuNs: ((used.user + used.system) * 1000) / calls };
}

/** heapUsed growth per call over a batch between two collections; undefined if one happened. */
async function bytesPerCall(
  guard: CanActivate,
  contexts: readonly ExecutionContext[],
  calls: number,
): Promise<number | undefined> {
  const mask = contexts.length - 1;
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) await guard.canActivate(contexts[i & mask]!);
  const grown = process.memoryUsage().heapUsed - before;
  return grown > 0 ? grown / calls : undefined;
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
    const guard = app.get(OidcSessionGuard);
    const noop = new NoopGuard();
    const handler = MicroController.prototype.guarded;
    // 1,024 requests of distinct recorded sessions, as express-session leaves them.
    const contexts: ExecutionContext[] = [];
    for (let i = 0; i < 1024; i++) {
      const id = sessionIdOf((i * 97) % sessions);
      const request = { sessionID: id, session: { id }, headers: { accept: 'application/json' } };
      const response = { setHeader: () => undefined };
      contexts.push(
        new ExecutionContextHost([request, response, () => undefined], MicroController, handler),
      );
    }
    // Warm-up (JIT), then alternate.
    await timeCalls(guard, contexts, callsPerRound);
    await timeCalls(noop, contexts, callsPerRound);
    const guardNs: number[] = [];
    const noopNs: number[] = [];
    const guardWall: number[] = [];
    const noopWall: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const n = await timeCalls(noop, contexts, callsPerRound);
      const g = await timeCalls(guard, contexts, callsPerRound);
      noopNs.push(n.cpuNs);
      guardNs.push(g.cpuNs);
      noopWall.push(n.wallNs);
      guardWall.push(g.wallNs);
    }
    const guardBytes: number[] = [];
    const noopBytes: number[] = [];
    for (let batch = 0; batch < 9; batch++) {
      const g = await bytesPerCall(guard, contexts, 2_000);
      if (g !== undefined) guardBytes.push(g);
      const n = await bytesPerCall(noop, contexts, 2_000);
      if (n !== undefined) noopBytes.push(n);
    }
    return {
      calls: callsPerRound,
      rounds,
      guardNsPerCall: median(guardNs),
      noopNsPerCall: median(noopNs),
      guardOwnUs: (median(guardNs) - median(noopNs)) / 1000,
      guardOwnWallUs: (median(guardWall) - median(noopWall)) / 1000,
      roundDifferencesUs: guardNs.map((g, i) => (g - noopNs[i]!) / 1000),
      guardBytesPerCall: guardBytes.length ? median(guardBytes) : Number.NaN,
      noopBytesPerCall: noopBytes.length ? median(noopBytes) : Number.NaN,
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
    // Flattened (a template literal may stay a rope of two strings until read).
    strings.sids.push(sidOf(i).normalize());
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
      `(rounds ${guard.roundDifferencesUs.map((d) => fixed(d, 2)).join(', ')}); heap ${fixed(guard.guardBytesPerCall)} B/call vs ${fixed(guard.noopBytesPerCall)} B/call (load ${guard.loadAverage})`,
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
        'load avg',
      ],
      [
        [
          `canActivate x ${guard.calls} x ${guard.rounds} rounds`,
          fixed(guard.guardNsPerCall),
          fixed(guard.noopNsPerCall),
          `${fixed(guard.guardOwnUs, 2)} / ${fixed(guard.guardOwnWallUs, 2)}`,
          `${fixed(Math.min(...guard.roundDifferencesUs), 2)} to ${fixed(Math.max(...guard.roundDifferencesUs), 2)}`,
          `${fixed(guard.guardBytesPerCall)} / ${fixed(guard.noopBytesPerCall)}`,
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
