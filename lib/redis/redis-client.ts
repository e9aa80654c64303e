import { createHash } from 'node:crypto';

/**
 * An ioredis client (`Redis` or `Cluster`): the stores send their commands through its `call`.
 *
 * @publicApi
 */
export interface IoRedisClientLike {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/**
 * A node-redis client (`createClient()` of `redis` 4 or 5): the stores send their commands through
 * its `sendCommand`.
 *
 * @publicApi
 */
export interface NodeRedisClientLike {
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * A node-redis cluster client (`createCluster()` of `redis` 4 or 5): the stores send each command
 * through its `sendCommand`, routed by the command's first key.
 *
 * @publicApi
 */
export interface NodeRedisClusterLike {
  sendCommand(firstKey: string, isReadonly: boolean, args: string[]): Promise<unknown>;
  readonly masters: readonly unknown[];
}

/**
 * The app's own Redis client, connected and owned by the app (as with connect-redis): an ioredis
 * `Redis` or `Cluster`, or a node-redis client or cluster. The stores never connect, quit or
 * configure it.
 *
 * @publicApi
 */
export type RedisClientLike = IoRedisClientLike | NodeRedisClientLike | NodeRedisClusterLike;

/** A Lua script and its SHA-1, run by `EVALSHA` (loaded on first use). @internal */
export interface RedisScript {
  readonly source: string;
  readonly sha: string;
}

/** Builds a {@link RedisScript}. @internal */
export function redisScript(source: string): RedisScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** The two commands the stores send, whatever the client. @internal */
export interface RedisCommands {
  /** One command, its reply as the client gives it (strings, numbers, arrays, `null`). */
  send(args: readonly string[]): Promise<unknown>;
  /** Runs `script` by its SHA-1; loads it (`EVAL`) when the server does not know it yet. */
  run(script: RedisScript, keys: readonly string[], args: readonly string[]): Promise<unknown>;
}

/**
 * The commands of `client`, or a `TypeError` naming what it lacks: neither ioredis's `call` nor
 * node-redis's `sendCommand`.
 *
 * @internal
 */
export function redisCommands(client: unknown): RedisCommands {
  const sendRaw = senderOf(client);
  checkReadsFromMasters(client);
  const send = async (args: readonly string[]): Promise<unknown> => {
    try {
      return await sendRaw(args);
    } catch (error) {
      throw withoutArguments(error);
    }
  };
  return {
    send,
    async run(script, keys, args) {
      const tail = [String(keys.length), ...keys, ...args];
      try {
        return await send(['EVALSHA', script.sha, ...tail]);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        // A new server, a restart or SCRIPT FLUSH: EVAL runs it and caches it for the next calls.
        return send(['EVAL', script.source, ...tail]);
      }
    },
  };
}

function senderOf(client: unknown): (args: readonly string[]) => Promise<unknown> {
  if (typeof client === 'object' && client !== null) {
    const { call, sendCommand } = client as { call?: unknown; sendCommand?: unknown };
    // ioredis first: its clients have no sendCommand of node-redis's shape.
    if (typeof call === 'function') {
      return (args) => {
        const [command, ...rest] = args;
        return (call as IoRedisClientLike['call']).call(client, command as string, ...rest);
      };
    }
    if (
      typeof sendCommand === 'function' &&
      Array.isArray((client as NodeRedisClusterLike).masters)
    ) {
      // A cluster routes by the first key: a script's first key, or the command's.
      return (args) => {
        const script = args[0] === 'EVALSHA' || args[0] === 'EVAL';
        const firstKey = (script ? args[3] : args[1]) ?? '';
        return (sendCommand as NodeRedisClusterLike['sendCommand']).call(client, firstKey, false, [
          ...args,
        ]);
      };
    }
    if (typeof sendCommand === 'function') {
      return (args) => (sendCommand as NodeRedisClientLike['sendCommand']).call(client, [...args]);
    }
  }
  throw new TypeError(
    'A Redis store needs the app’s Redis client: an ioredis Redis or Cluster (with call) or a ' +
      'node-redis client or cluster (with sendCommand)',
  );
}

/**
 * Refuses (a `TypeError`) an ioredis `Cluster` reading from replicas (`scaleReads` other than
 * `'master'`): it could answer the guard from a replica that still holds a session a logout removed.
 */
function checkReadsFromMasters(client: unknown): void {
  const { options, isCluster } = client as {
    options?: { scaleReads?: unknown };
    isCluster?: unknown;
  };
  if (isCluster === true && options?.scaleReads !== undefined && options.scaleReads !== 'master') {
    throw new TypeError(
      "The Redis stores need an ioredis Cluster that reads from its masters (scaleReads: 'master', " +
        'the default): a replica may still hold a session a logout removed',
    );
  }
}

/**
 * ioredis puts the command and its arguments (an ID token, a sub) on a reply error, where an app
 * that logs an error's cause would print them: the stores' errors go on without them.
 */
function withoutArguments(error: unknown): unknown {
  if (typeof error !== 'object' || error === null || !('command' in error)) return error;
  if (Reflect.deleteProperty(error, 'command') && !('command' in error)) return error;
  return new Error(error instanceof Error ? error.message : 'The Redis command failed');
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
