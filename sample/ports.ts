import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A port the sample needs is taken: the message says which one and what to set. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly what: string,
  ) {
    super(`Port ${port} is already in use, needed for ${what}: stop what uses it or pick another.`);
    this.name = 'PortInUseError';
  }
}

/** A listening node:http server and a `close` that also ends its open connections. */
export interface ListeningServer {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on `host:port`; a taken port rejects with a {@link PortInUseError} naming `what`. */
export async function listenOn(
  server: Server,
  port: number,
  host: string,
  what: string,
): Promise<ListeningServer> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(port, what) : error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Resolves a port before anything starts: 0 picks a free one (the OP and the apps must know each
 * other's URLs up front), any other port is checked to be free so that a taken port is reported
 * before anything else runs.
 */
export async function reservePort(port: number, host: string, what: string): Promise<number> {
  const probe = await listenOn(createServer(), port, host, what);
  await probe.close();
  return probe.port;
}
