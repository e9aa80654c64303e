/**
 * Scale: how revocations and the guard's lookups behave as the recorded sessions grow, in
 * PostgreSQL and SQLite (TypeORM repository) and Redis, at 10,000, 100,000 and 1,000,000 sessions.
 *
 * At each size, in-process through `LogoutService` (what the back-channel endpoint and the guard
 * call), with CONCURRENCY (10) callers at once for a fixed duration each:
 * - revoke by `sid`: `revoke({ registrationId, sid })` (tombstone upsert, then the sessions of that
 *   OP session removed), each call naming another recorded session;
 * - revoke by `sub`: `revoke({ registrationId, sub })` (every session of the user);
 * - lookups: `isActive(sessionId)` of recorded sessions, as the guard calls it: lookups/s.
 * The sessions revoked are drawn at random (seeded) over the whole table and never twice, so every
 * revocation removes exactly one real session (checked). Sizes grow by seeding the difference (in
 * SQL; through the repository in Redis).
 * The baseline of each figure is the same measurement at the smallest size: the ratios show whether
 * it stays flat. The query plans of the lookups (EXPLAIN) are recorded at the largest size.
 */
import 'reflect-metadata';
import { Module, type INestApplicationContext, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { performance } from 'node:perf_hooks';
import { LogoutService, OidcLogoutModule, type OidcLogoutModuleOptions } from '../lib';
import { TypeOrmOidcLogoutEventStore, TypeOrmOidcSessionRepository } from '../lib/typeorm';
import {
  explainLogoutLookups,
  sessionIdOf,
  sidOf,
  subOf,
  type DatabaseKind,
  type SeedRow,
} from './databases';
import { redisUsedMemory } from './redis';
import {
  countStore,
  seedStore,
  storeOptions,
  STORE_NAMES,
  type BenchStore,
  type StoreKind,
} from './stores';
import { env, envList, fixed, loadAverage, markdownTable, percentile } from './report';

export interface ScaleMeasurement {
  operations: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
  loadAverage: number;
}

/** PostgreSQL is measured batched (the default) and one statement per call; SQLite as it is. */
export type ScaleVariant = 'batched' | 'unbatched' | 'default';

export interface ScaleRow {
  database: StoreKind;
  variant: ScaleVariant;
  sessions: number;
  bySid: ScaleMeasurement;
  bySub: ScaleMeasurement;
  lookups: ScaleMeasurement;
  seedSeconds: number;
  /** Redis: its memory per recorded session at this size (`used_memory` over the sessions). */
  bytesPerSession?: number;
}

export interface ScaleResult {
  concurrency: number;
  durationMs: number;
  rows: ScaleRow[];
  plans: Partial<Record<DatabaseKind, Awaited<ReturnType<typeof explainLogoutLookups>>>>;
  problems: string[];
}

/** What the scale bench needs of a store: one it may seed (0 to seededUpTo - 1, some revoked since). */
export type ScaleDatabase = BenchStore;

/** Deterministic pseudo-random numbers (mulberry32), so that runs revoke the same sessions. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Session indices below `size`, each handed out once per bench (revoked sessions are gone). */
class SessionPicker {
  private readonly used = new Set<number>();
  private readonly next = random(7);

  /** Marks sessions as gone (revoked by another bench). */
  exclude(indices: Iterable<number>): void {
    for (const i of indices) this.used.add(i);
  }

  pick(size: number): number {
    if (this.used.size >= size) throw new Error('every session is revoked already');
    for (;;) {
      const i = Math.floor(this.next() * size);
      if (!this.used.has(i)) {
        this.used.add(i);
        return i;
      }
    }
  }

  /** A recorded session not revoked (not marked used). */
  peek(size: number): number {
    if (this.used.size >= size) throw new Error('every session is revoked already');
    for (;;) {
      const i = Math.floor(this.next() * size);
      if (!this.used.has(i)) return i;
    }
  }
}

/**
 * `concurrency` callers run `operation` back to back for `durationMs`, or until `maxOperations`
 * started; the latency of each call.
 */
async function measure(
  concurrency: number,
  durationMs: number,
  maxOperations: number,
  operation: () => Promise<boolean>,
): Promise<ScaleMeasurement> {
  const latencies: number[] = [];
  let failures = 0;
  let started = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  let last = start;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline && started < maxOperations) {
        started++;
        const sent = performance.now();
        let ok: boolean;
        try {
          ok = await operation();
        } catch {
          ok = false;
        }
        last = performance.now();
        latencies.push(last - sent);
        if (!ok) failures++;
      }
    }),
  );
  const sorted = Float64Array.from(latencies).sort();
  return {
    operations: latencies.length,
    perSecond: (latencies.length * 1000) / (last - start),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    failures,
    loadAverage: loadAverage(),
  };
}

async function createServiceContext(
  database: ScaleDatabase,
  seed: SeedRow,
  batching: boolean,
): Promise<INestApplicationContext> {
  const stores: Partial<OidcLogoutModuleOptions> =
    batching || database.kind === 'redis'
      ? storeOptions(database)
      : {
          // Both stores one statement per call, on the same database (without a logoutEventStore
          // the module would keep the logout events in memory, and refuse them once it is full).
          sessionRepository: new TypeOrmOidcSessionRepository(database.dataSource, {
            batching: false,
          }),
          logoutEventStore: new TypeOrmOidcLogoutEventStore(database.dataSource, {
            batching: false,
          }),
        };
  @Module({
    imports: [
      OidcLogoutModule.forRoot({
        // A static JWKS URI: nothing is fetched; revoke and isActive verify no token.
        clients: [
          {
            registrationId: seed.registrationId,
            issuer: seed.issuer,
            clientId: seed.clientId,
            discovery: false,
            jwksUri: `${seed.issuer}/jwks`,
          },
        ],
        ...stores,
      }),
    ],
  })
  class ScaleModule {}
  return NestFactory.createApplicationContext(ScaleModule as Type, { logger: ['error', 'warn'] });
}

/**
 * Runs the scale bench on each database, growing it to each size. Leaves every database seeded up
 * to the largest size (minus the sessions revoked, which `revoked` receives per kind).
 */
export async function runScaleBench(
  databases: readonly ScaleDatabase[],
  seed: SeedRow,
  revoked: Map<StoreKind, Set<number>>,
): Promise<ScaleResult> {
  const sizes = envList('BENCH_SCALE_SIZES', ['10000', '100000', '1000000']).map(Number);
  const concurrency = env('BENCH_SCALE_CONCURRENCY', 10);
  const durationMs = env('BENCH_SCALE_DURATION_S', 3) * 1000;
  const rows: ScaleRow[] = [];
  const plans: ScaleResult['plans'] = {};
  const problems: string[] = [];
  for (const database of databases) {
    const { kind } = database;
    const gone = revoked.get(kind) ?? new Set<number>();
    revoked.set(kind, gone);
    const picker = new SessionPicker();
    picker.exclude(gone);
    // PostgreSQL batches concurrent calls by default; the same figures one statement per call show
    // what batching gives (same table, same run, alternated).
    const variants: ScaleVariant[] = kind === 'postgres' ? ['batched', 'unbatched'] : ['default'];
    const apps = new Map<ScaleVariant, INestApplicationContext>();
    try {
      for (const variant of variants) {
        apps.set(variant, await createServiceContext(database, seed, variant !== 'unbatched'));
      }
      let warm = false;
      for (const size of sizes) {
        const seedStart = performance.now();
        await seedStore(database, seed, database.seededUpTo, size);
        database.seededUpTo = Math.max(database.seededUpTo, size);
        const seedSeconds = (performance.now() - seedStart) / 1000;
        const bytesPerSession =
          database.kind === 'redis'
            ? (await redisUsedMemory(database.redis)) / (await countStore(database))
            : undefined;
        // At most a tenth of the sessions revoked per figure: the table keeps its size.
        const maxRevocations = Math.floor(size / 10 / variants.length);
        for (const variant of sizes.indexOf(size) % 2 ? [...variants].reverse() : variants) {
          const service = apps.get(variant)!.get(LogoutService);
          const revokeOne = (by: 'sid' | 'sub') => async () => {
            const i = picker.pick(size);
            gone.add(i);
            const removed = await service.revoke(
              by === 'sid'
                ? { registrationId: seed.registrationId, sid: sidOf(i) }
                : { registrationId: seed.registrationId, sub: subOf(i) },
            );
            return removed.length === 1;
          };
          const lookup = async () => await service.isActive(sessionIdOf(picker.peek(size)));
          if (!warm) {
            // Warm-up (not measured): the connection pool, the JIT, the statements.
            for (const other of variants) {
              const warmService = apps.get(other)!.get(LogoutService);
              await measure(concurrency, 1000, Number.POSITIVE_INFINITY, async () =>
                warmService.isActive(sessionIdOf(picker.peek(size))),
              );
            }
            await measure(concurrency, 1000, Math.floor(maxRevocations / 4), revokeOne('sid'));
            warm = true;
          }
          const before = await countStore(database);
          const bySid = await measure(concurrency, durationMs, maxRevocations, revokeOne('sid'));
          const bySub = await measure(concurrency, durationMs, maxRevocations, revokeOne('sub'));
          const lookups = await measure(concurrency, durationMs, Number.POSITIVE_INFINITY, lookup);
          const after = await countStore(database);
          const expected = before - bySid.operations - bySub.operations;
          const where = `${kind} (${variant}) at ${size}`;
          if (after !== expected) {
            problems.push(`${where}: ${after} sessions left, expected ${expected}`);
          }
          for (const [what, m] of Object.entries({ bySid, bySub, lookups })) {
            if (m.failures > 0) problems.push(`${where}: ${m.failures} ${what} failed`);
          }
          rows.push({
            database: kind,
            variant,
            sessions: size,
            bySid,
            bySub,
            lookups,
            seedSeconds,
            ...(bytesPerSession === undefined ? {} : { bytesPerSession }),
          });
          console.log(
            `scale ${kind}${variant === 'default' ? '' : ` ${variant}`} ${size} sessions (seeded in ${fixed(seedSeconds, 1)} s): ` +
              `revoke by sid p50 ${fixed(bySid.p50Ms, 2)} p99 ${fixed(bySid.p99Ms, 2)} ms (${fixed(bySid.perSecond)}/s), ` +
              `by sub p50 ${fixed(bySub.p50Ms, 2)} p99 ${fixed(bySub.p99Ms, 2)} ms (${fixed(bySub.perSecond)}/s), ` +
              `lookups ${fixed(lookups.perSecond)}/s p99 ${fixed(lookups.p99Ms, 2)} ms (load ${lookups.loadAverage})`,
          );
        }
      }
      if (database.kind !== 'redis') {
        plans[database.kind] = await explainLogoutLookups(
          database.dataSource,
          seed.issuer,
          seed.clientId,
        );
      }
    } finally {
      for (const app of apps.values()) await app.close();
    }
  }
  return { concurrency, durationMs, rows, plans, problems };
}

export function scaleTable(result: ScaleResult): string {
  const key = (row: ScaleRow) => `${row.database} ${row.variant}`;
  const first = new Map<string, ScaleRow>();
  for (const row of result.rows) if (!first.has(key(row))) first.set(key(row), row);
  const unbatched = new Map<number, ScaleRow>();
  for (const row of result.rows) if (row.variant === 'unbatched') unbatched.set(row.sessions, row);
  const ratio = (value: number, base: number) => fixed(value / base, 2);
  return markdownTable(
    [
      'database',
      'statements',
      'sessions',
      'revoke by sid p50 / p99 ms',
      'by sid p99 vs smallest',
      'revoke by sub p50 / p99 ms',
      'by sub p99 vs smallest',
      'revocations/s (sid / sub)',
      'lookups/s',
      'lookups/s vs smallest',
      'lookup p99 ms',
      'revocations/s, lookups/s vs one statement per call',
      'load avg',
    ],
    result.rows.map((r) => {
      const base = first.get(key(r))!;
      const single = r.variant === 'batched' ? unbatched.get(r.sessions) : undefined;
      return [
        STORE_NAMES[r.database] +
          (r.bytesPerSession === undefined ? '' : ` (${fixed(r.bytesPerSession)} B/session)`),
        { batched: 'batched', unbatched: 'one per call', default: 'one per call' }[r.variant],
        String(r.sessions),
        `${fixed(r.bySid.p50Ms, 2)} / ${fixed(r.bySid.p99Ms, 2)}`,
        ratio(r.bySid.p99Ms, base.bySid.p99Ms),
        `${fixed(r.bySub.p50Ms, 2)} / ${fixed(r.bySub.p99Ms, 2)}`,
        ratio(r.bySub.p99Ms, base.bySub.p99Ms),
        `${fixed(r.bySid.perSecond)} / ${fixed(r.bySub.perSecond)}`,
        fixed(r.lookups.perSecond),
        ratio(r.lookups.perSecond, base.lookups.perSecond),
        fixed(r.lookups.p99Ms, 2),
        single
          ? `${ratio(r.bySid.perSecond + r.bySub.perSecond, single.bySid.perSecond + single.bySub.perSecond)}, ` +
            ratio(r.lookups.perSecond, single.lookups.perSecond)
          : '-',
        `${r.bySid.loadAverage} / ${r.lookups.loadAverage}`,
      ];
    }),
  );
}
