/**
 * Loopback stand-ins for an HTTP proxy that misbehaves (HTTPS_PROXY / HTTP_PROXY), and a plain
 * TCP listener that records who connects. Nothing is forwarded anywhere.
 *
 * Node builtins only.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * - `hang`: accepts the connection, reads the CONNECT, never answers.
 * - `drop`: accepts, reads the CONNECT, closes the connection.
 * - `close`: closes every connection as soon as it is accepted.
 * - `refuse`: answers every CONNECT with 403, like a proxy that does not allow the host.
 */
export type ProxyMode = 'hang' | 'drop' | 'close' | 'refuse';

export interface Listener {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** The first line of each request received (e.g. `CONNECT 127.0.0.1:9 HTTP/1.1`). */
  lines: string[];
  close(): Promise<void>;
}

function listen(onSocket: (s: Socket, lines: string[]) => void): Promise<Listener> {
  const sockets = new Set<Socket>();
  const lines: string[] = [];
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    s.once('data', (chunk) => lines.push(chunk.toString('latin1').split('\r\n')[0]!));
    onSocket(s, lines);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        get connections() {
          return connections;
        },
        lines,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A proxy on 127.0.0.1 that misbehaves as `mode` says. */
export function badProxy(mode: ProxyMode): Promise<Listener> {
  return listen((s) => {
    if (mode === 'close') s.destroy();
    else if (mode === 'drop') s.once('data', () => s.destroy());
    else if (mode === 'refuse') s.once('data', () => s.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n'));
  });
}

/** A TCP listener that accepts and records connections and never answers (a TLS server that never speaks). */
export function silentListener(): Promise<Listener> {
  return listen(() => {});
}
