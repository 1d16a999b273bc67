/**
 * The real `bin/medic` with certificate files in its PostgreSQL URL: pg would read them with a
 * blocking readFileSync (a FIFO hung the run for good); Medic reads them itself, or refuses (78).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempProject, type Project } from '../helpers/cli.js';

let project: Project | undefined;
let server: Server | undefined;

afterEach(async () => {
  project?.remove();
  project = undefined;
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

const CONFIG = { services: [{ slug: 'job', interval: '1h' }] };

describe('certificate files in the PostgreSQL URL, spawned', { timeout: 60_000 }, () => {
  it('sslrootcert naming a FIFO is refused at once (78) instead of hanging the run', async () => {
    project = tempProject(CONFIG);
    const fifo = join(project.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    const res = await project.run(['status'], { env: { MEDIC_DB: `postgres://medic@127.0.0.1:9/medic?sslrootcert=${fifo}` }, killAfterMs: 20_000 });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`refusing sslrootcert ${fifo} (in the database URL): it is not a regular file`);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a certificate Medic read is used: the connection asks for TLS (a server without it is told apart)', async () => {
    project = tempProject(CONFIG);
    const ca = join(project.dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n', { mode: 0o644 });
    // A stand-in that answers PostgreSQL's SSLRequest with "N": no TLS here.
    const asked: number[] = [];
    server = createServer((socket) => {
      socket.once('data', (b) => {
        asked.push(b.length >= 8 ? b.readUInt32BE(4) : -1);
        socket.end('N');
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const res = await project.run(['status'], { env: { MEDIC_DB: `postgres://medic@127.0.0.1:${port}/medic?sslrootcert=${ca}` }, killAfterMs: 20_000 });
    expect(res.code).toBe(74);
    expect(res.stderr).toContain('does not support SSL');
    // 80877103: the SSLRequest code.
    expect(asked[0]).toBe(80877103);
  });
});
