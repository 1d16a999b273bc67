/**
 * The server in-process (src/serve/server.ts) on a loopback port, over a store whose commits the
 * test decides: what a client is answered when a commit fails, and that nothing is acknowledged
 * before its commit. The real store is covered end to end (test/e2e/serve.test.ts); this store is a
 * stand-in for the one thing a real one will not do on demand: fail a commit.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { DatabaseError } from '../../src/errors.js';
import { GroupCommit } from '../../src/serve/batch.js';
import { MOVED_BODY, startServer, type RunningServer } from '../../src/serve/server.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { BeatInput, Store } from '../../src/store/types.js';

const KEY = 'unit-ping-key-0123456789';
const settings = buildConfig({ services: [{ slug: 'backup' }], serve: { listen: '127.0.0.1:0' } }, '/x/medic.config.json', { env: {}, cwd: '/', machineZone: 'UTC' }).serve;
let server: RunningServer | null = null;
afterEach(async () => {
  await server?.close(100);
  server = null;
});

async function serveWith(recordBeats: (beats: BeatInput[]) => Promise<void>, tls: { cert: Buffer; key: Buffer } | null = null, store: Pick<Store, 'probe'> = { probe: async () => ({ exists: true }) }) {
  const errors: string[] = [];
  server = await startServer({
    settings,
    tls,
    commit: new GroupCommit({ recordBeats }),
    store,
    state: () => ({ pingKey: KEY, slugs: new Set(['backup']), hide: [], pingKeys: [KEY] }),
    log: null,
    onError: (what, err) => errors.push(`${what}: ${(err as Error).message}`),
    monotonic: () => performance.now(),
    now: Date.now,
  });
  return { url: server.url, errors };
}

describe('startServer', () => {
  it('answers 503 with Retry-After to every request of a commit that failed, and reports it', async () => {
    const s = await serveWith(() => Promise.reject(new DatabaseError('cannot write database /x/medic.db: disk full')));
    const answers = await Promise.all([1, 2, 3].map(() => fetch(`${s.url}/ping/${KEY}/backup`)));
    for (const res of answers) {
      expect([res.status, res.headers.get('retry-after'), await res.text()]).toEqual([503, '5', 'database unavailable, try again']);
    }
    expect(s.errors[0]).toBe('commit: cannot write database /x/medic.db: disk full');
  });

  it('answers only once the commit resolved', async () => {
    let release!: () => void;
    const s = await serveWith(() => new Promise<void>((r) => (release = r)));
    let answered = false;
    const res = fetch(`${s.url}/ping/${KEY}/backup`).then((r) => ((answered = true), r));
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false);
    release();
    expect((await res).status).toBe(200);
  });

  it('ends the connection after a 404 to a body it did not read', async () => {
    const s = await serveWith(() => Promise.resolve());
    const res = await fetch(`${s.url}/ping/wrong-key-000000000000/backup`, { method: 'POST', body: 'x'.repeat(100_000) });
    expect([res.status, res.headers.get('connection')]).toEqual([404, 'close']);
  });
});

describe('/healthz over a real SQLite store', () => {
  it.each<[string, (path: string) => void, [number, string]]>([
    ['still at its path', () => {}, [200, 'OK']],
    ['moved away', (p) => renameSync(p, `${p}.moved`), [503, MOVED_BODY]],
    ['a folder in its place', (p) => (renameSync(p, `${p}.moved`), mkdirSync(p)), [503, MOVED_BODY]],
    ['another file in its place', (p) => (renameSync(p, `${p}.moved`), writeFileSync(p, '')), [503, MOVED_BODY]],
  ])('the database file %s: %j', async (_what, change, expected) => {
    const dir = mkdtempSync(join(tmpdir(), 'medic-serve-healthz-'));
    const store = openSqliteStore(join(dir, 'medic.db'), { uid: process.geteuid!() });
    try {
      change(join(dir, 'medic.db'));
      const s = await serveWith(() => Promise.resolve(), null, store);
      const res = await fetch(`${s.url}/healthz`);
      expect([res.status, await res.text()]).toEqual(expected);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('startServer with TLS', () => {
  /** A self-signed pair for 127.0.0.1, made by openssl. */
  function tlsPair(): { cert: Buffer; key: Buffer } {
    const dir = mkdtempSync(join(tmpdir(), 'medic-serve-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k'), '-out', join(dir, 'c'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      return { cert: readFileSync(join(dir, 'c')), key: readFileSync(join(dir, 'k')) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('a stop ends, at its deadline, connections that never started a handshake', async () => {
    const s = await serveWith(() => Promise.resolve(), tlsPair());
    const u = new URL(s.url);
    const silent = connect(Number(u.port), u.hostname);
    silent.on('error', () => {});
    await new Promise((r) => silent.once('connect', r));
    const ended = new Promise((r) => silent.once('close', r));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await server!.close(300);
    server = null;
    // Node's TLS would hold it for serve.headersTimeout (here 10 s; its own default is 120 s).
    expect(Date.now() - t0).toBeLessThan(2000);
    await ended;
  });
});
