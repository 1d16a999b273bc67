/**
 * A database password never reaches a message, even when a (hostile) server echoes it in its error
 * text: every occurrence, in any case, is shown as `<password>`.
 */
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isMedicError } from '../../src/errors.js';
import { hidePasswords, openPostgresStore } from '../../src/store/postgres.js';

/** A "server" that answers any start-up with a FATAL ErrorResponse carrying `message`. */
function hostileServer(message: string): Server {
  return createServer((socket) => {
    socket.once('data', () => {
      const fields = Buffer.concat([field('S', 'FATAL'), field('C', '28P01'), field('M', message), Buffer.from([0])]);
      const head = Buffer.alloc(5);
      head.write('E', 0);
      head.writeInt32BE(fields.length + 4, 1);
      socket.end(Buffer.concat([head, fields]));
    });
    socket.on('error', () => {});
  });
}
function field(code: string, value: string): Buffer {
  return Buffer.concat([Buffer.from(code), Buffer.from(value, 'utf8'), Buffer.from([0])]);
}

describe('the database password in what a server says', () => {
  it('a password a server echoes is masked in "cannot log in" (74), every occurrence, any case', async () => {
    const password = 'S3cret-Pass.word';
    const server = hostileServer(`bad password: ${password}; again ${password.toUpperCase()} and ${password.toLowerCase()}`);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const err = await openPostgresStore(`postgres://medic@127.0.0.1:${port}/medic`, { password }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isMedicError(err), String(err)).toBe(true);
      const { exitCode, message } = err as { exitCode: number; message: string };
      expect(exitCode).toBe(74);
      expect(message).toContain('cannot log in to PostgreSQL database "medic"');
      expect(message).toContain('bad password: <password>; again <password> and <password>');
      expect(message.toLowerCase()).not.toContain(password.toLowerCase());
    } finally {
      server.close();
    }
  });

  it.each<[string, NodeJS.ProcessEnv, string, string]>([
    ['PGPASSWORD, which pg reads itself', { PGPASSWORD: 'pg-env-secret' }, 'no: pg-env-secret / PG-ENV-SECRET', 'no: <password> / <password>'],
    ['no PGPASSWORD: the text as it was', {}, 'no: pg-env-secret / PG-ENV-SECRET', 'no: pg-env-secret / PG-ENV-SECRET'],
    ['a password with regex characters is matched literally', { PGPASSWORD: 'a.b*c' }, 'axbbc a.b*c', 'axbbc <password>'],
  ])('%s', (_label, env, text, shown) => {
    expect(hidePasswords(text, env)).toBe(shown);
  });
});
