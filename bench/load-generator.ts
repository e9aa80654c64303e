/**
 * The load generator: runs in its own process (forked by {@link LoadGenerator.start}) so that its
 * CPU time is not the server's. It keeps a fixed number of HTTP/1.1 keep-alive connections busy,
 * one request in flight on each, for a fixed duration, and reports what it saw.
 *
 * Request bodies come from a file, one per line, loaded once per process: every request takes the
 * next line (`start`, `start + 1`, ...), so that a body is never sent twice unless `wrap` says the
 * list may be cycled. When the deadline passes, no new request starts; requests in flight finish
 * and count (the elapsed time runs until the last answer), so every body sent has an answer.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request, type OutgoingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** One measured run of a route. */
export interface LoadRun {
  /** e.g. `http://127.0.0.1:3000`. */
  origin: string;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  /** File with one request body per line (UTF-8, no line breaks inside a body). */
  bodiesFile?: string;
  /** Index of the first body to send. Default 0. */
  start?: number;
  /** Cycle through the bodies when they run out (otherwise the run stops early). Default false. */
  wrap?: boolean;
  /**
   * File with one `Cookie` header value per line: request _k_ of the run sends line _k_ modulo their
   * number (e.g. the session cookies of many users).
   */
  cookiesFile?: string;
  /** Concurrent connections, one request in flight on each. */
  connections: number;
  durationMs: number;
}

/** What one run measured. Latencies are in milliseconds, from writing the request to the last byte. */
export interface LoadResult {
  /** Requests answered (any status) plus requests that failed. */
  requests: number;
  ok2xx: number;
  non2xx: number;
  /** Connection errors (no HTTP status). */
  errors: number;
  statuses: Record<string, number>;
  /** From the first request to the last answer. */
  elapsedMs: number;
  /** The body index after the last one sent (`start` + requests, before any wrapping). */
  next: number;
  /** The bodies ran out before the deadline (only without `wrap`). */
  exhausted: boolean;
  /** Body indices of the first failed requests (non-2xx or error), at most 20. */
  failedIndices: number[];
  /** Every request's latency, in completion order. */
  latenciesMs: Float64Array;
  /** CPU time the load generator used (user + system), to tell whether it was the bottleneck. */
  clientCpuMs: number;
}

type Command = { type: 'run'; id: number; run: LoadRun } | { type: 'exit' };

type Reply =
  | { type: 'ready' }
  | { type: 'result'; id: number; result: LoadResult }
  | { type: 'error'; id: number; message: string };

const bodyFiles = new Map<string, Buffer[]>();

function loadLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0);
}

function loadBodies(file: string): Buffer[] {
  let bodies = bodyFiles.get(file);
  if (!bodies) {
    bodies = loadLines(file).map((line) => Buffer.from(line, 'utf8'));
    bodyFiles.set(file, bodies);
  }
  return bodies;
}

function send(
  agent: Agent,
  url: URL,
  run: LoadRun,
  headers: OutgoingHttpHeaders,
  body: Buffer | undefined,
): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        hostname: url.hostname,
        port: url.port,
        method: run.method,
        path: run.path,
        headers: body ? { ...headers, 'content-length': body.length } : headers,
      },
      (res) => {
        res.on('error', () => resolve(0));
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.resume();
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/** Runs the load in this process. */
export async function runLoad(run: LoadRun): Promise<LoadResult> {
  const bodies = run.bodiesFile === undefined ? undefined : loadBodies(run.bodiesFile);
  const cookies = run.cookiesFile === undefined ? undefined : loadLines(run.cookiesFile);
  const url = new URL(run.origin);
  const headers: OutgoingHttpHeaders = { ...run.headers };
  // One header object per cookie, built once.
  const cookieHeaders = cookies?.map((cookie) => ({ ...headers, cookie }));
  // A fresh pool per run: the server may have closed idle keep-alive connections in between.
  const agent = new Agent({
    keepAlive: true,
    maxSockets: run.connections,
    maxFreeSockets: run.connections,
  });
  const start = run.start ?? 0;
  let cursor = start;
  let exhausted = false;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const failedIndices: number[] = [];
  let ok2xx = 0;
  let non2xx = 0;
  let errors = 0;
  const cpuAtStart = process.cpuUsage();
  const startedAt = performance.now();
  const deadline = startedAt + run.durationMs;
  let lastAnswerAt = startedAt;

  const connection = async (): Promise<void> => {
    while (performance.now() < deadline) {
      let index = cursor;
      if (bodies) {
        if (index >= bodies.length) {
          if (!run.wrap || bodies.length === 0) {
            exhausted = true;
            return;
          }
          index %= bodies.length;
        }
      }
      const bodyIndex = cursor;
      cursor += 1;
      const sentAt = performance.now();
      const requestHeaders = cookieHeaders
        ? cookieHeaders[(bodyIndex - start) % cookieHeaders.length]!
        : headers;
      const status = await send(agent, url, run, requestHeaders, bodies?.[index]);
      lastAnswerAt = performance.now();
      latencies.push(lastAnswerAt - sentAt);
      if (status === 0) errors += 1;
      else statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) {
        ok2xx += 1;
      } else {
        if (status !== 0) non2xx += 1;
        if (failedIndices.length < 20) failedIndices.push(bodyIndex);
      }
    }
  };
  await Promise.all(Array.from({ length: run.connections }, connection));
  const cpu = process.cpuUsage(cpuAtStart);
  agent.destroy();
  return {
    requests: cursor - start,
    ok2xx,
    non2xx,
    errors,
    statuses,
    elapsedMs: lastAnswerAt - startedAt,
    next: cursor,
    exhausted,
    failedIndices,
    latenciesMs: Float64Array.from(latencies),
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/** The parent's handle on a load generator process. */
export class LoadGenerator {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (result: LoadResult) => void; reject: (error: Error) => void }
  >();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (message: Reply) => {
      if (message.type === 'ready') return;
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.type === 'result') waiter.resolve(message.result);
      else waiter.reject(new Error(`load generator: ${message.message}`));
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`load generator exited (code ${code})`));
      }
      this.pending.clear();
    });
  }

  /** Forks the compiled `load-generator.js` next to this file and waits until it is ready. */
  static async start(): Promise<LoadGenerator> {
    const child = fork(join(__dirname, 'load-generator.js'), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`load generator exited (code ${code})`)));
    });
    return new LoadGenerator(child);
  }

  run(run: LoadRun): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ type: 'run', id, run } satisfies Command);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'exit' } satisfies Command);
    await exited;
  }
}

// In the forked process: serve the parent's commands.
if (require.main === module && process.send) {
  const reply = (message: Reply) => process.send?.(message);
  process.on('message', (command: Command) => {
    if (command.type === 'exit') {
      process.disconnect();
      return;
    }
    runLoad(command.run).then(
      (result) => reply({ type: 'result', id: command.id, result }),
      (error: unknown) =>
        reply({
          type: 'error',
          id: command.id,
          message: error instanceof Error ? error.message : String(error),
        }),
    );
  });
  reply({ type: 'ready' });
}
