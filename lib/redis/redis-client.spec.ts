import { describe, expect, it } from 'vitest';
import { redisCommands, redisScript } from './redis-client';

const SCRIPT = redisScript('return 1');

describe('the Redis client adapter', () => {
  it('sends through ioredis call, by SHA first', async () => {
    const sent: string[][] = [];
    const client = {
      call: (command: string, ...args: string[]) => {
        sent.push([command, ...args]);
        return Promise.resolve(1);
      },
    };
    expect(await redisCommands(client).run(SCRIPT, ['k'], ['a'])).toBe(1);
    expect(sent).toEqual([['EVALSHA', SCRIPT.sha, '1', 'k', 'a']]);
  });

  it('sends through node-redis sendCommand, and runs the source once the server lacks it', async () => {
    const sent: string[][] = [];
    const client = {
      sendCommand: (args: string[]) => {
        sent.push(args);
        return args[0] === 'EVALSHA'
          ? Promise.reject(new Error('NOSCRIPT No matching script.'))
          : Promise.resolve('ok');
      },
    };
    expect(await redisCommands(client).run(SCRIPT, [], [])).toBe('ok');
    expect(sent).toEqual([
      ['EVALSHA', SCRIPT.sha, '0'],
      ['EVAL', 'return 1', '0'],
    ]);
  });

  it('routes through a node-redis cluster by the first key of the command or the script', async () => {
    const sent: Array<[string, boolean, string[]]> = [];
    const cluster = {
      masters: [],
      sendCommand: (firstKey: string, isReadonly: boolean, args: string[]) => {
        sent.push([firstKey, isReadonly, args]);
        return Promise.resolve(null);
      },
    };
    const commands = redisCommands(cluster);
    await commands.run(SCRIPT, ['{p}:a', '{p}:b'], ['x']);
    await commands.send(['HGET', '{p}:r:id', 'exp']);
    expect(sent).toEqual([
      ['{p}:a', false, ['EVALSHA', SCRIPT.sha, '2', '{p}:a', '{p}:b', 'x']],
      ['{p}:r:id', false, ['HGET', '{p}:r:id', 'exp']],
    ]);
  });

  it('passes any other failure on, without a second try', async () => {
    let calls = 0;
    const client = {
      call: () => {
        calls++;
        return Promise.reject(new Error('Connection is closed.'));
      },
    };
    await expect(redisCommands(client).run(SCRIPT, [], [])).rejects.toThrow(
      'Connection is closed.',
    );
    expect(calls).toBe(1);
  });

  it.each([['slave'], ['all'], [() => 'slave']])(
    'refuses an ioredis Cluster reading from replicas (scaleReads %s): a replica may still hold a session a logout removed',
    (scaleReads) => {
      const cluster = {
        isCluster: true,
        call: () => Promise.resolve(null),
        options: { scaleReads },
      };
      expect(() => redisCommands(cluster)).toThrow(/scaleReads/);
    },
  );

  it('takes an ioredis Cluster reading from its masters (the default)', () => {
    const call = () => Promise.resolve(null);
    expect(() =>
      redisCommands({ isCluster: true, call, options: { scaleReads: 'master' } }),
    ).not.toThrow();
  });

  it('drops the arguments ioredis puts on a reply error (an ID token, a sub), keeping the message', async () => {
    const replyError = Object.assign(new Error('OOM command not allowed'), {
      command: { name: 'evalsha', args: ['sha', '1', 'k', 'eyJ.id-token.sig', 'user-1'] },
    });
    const client = { call: () => Promise.reject(replyError) };
    const failure: unknown = await redisCommands(client)
      .send(['HGET', 'k', 'exp'])
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe('OOM command not allowed');
    expect(JSON.stringify(failure, Object.getOwnPropertyNames(failure))).not.toMatch(
      /id-token|user-1/,
    );
    expect(failure).not.toHaveProperty('command');
  });

  it.each([[undefined], [{}], [{ call: 'no' }]])('refuses %j as a client', (client) => {
    expect(() => redisCommands(client)).toThrow(/ioredis|node-redis/);
  });
});
