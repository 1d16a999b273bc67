/**
 * kill -9 of `medic serve` under load: every beat that was answered 200 is in the store (a beat is
 * acknowledged only once its commit is durable), counted per slug; nothing is stored that was not sent.
 */
import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { query } from '../helpers/db.js';
import { configFor, startServe } from '../helpers/serve.js';

const SLUGS = ['a', 'b', 'c', 'd', 'e'];

describe('medic serve killed with SIGKILL under load', () => {
  it.each([1, 2, 3])('round %i: every acknowledged beat is stored, per slug', async () => {
    const s = await startServe(configFor({}, SLUGS));
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    const u = new URL(s.base);
    const sent = new Map(SLUGS.map((x) => [x, 0]));
    const acked = new Map(SLUGS.map((x) => [x, 0]));
    let stop = false;
    const one = (slug: string) =>
      new Promise<number | null>((resolve) => {
        const req = request({ agent, host: u.hostname, port: u.port, path: `${u.pathname}/${slug}/fail`, method: 'POST' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? null));
          res.on('error', () => resolve(null));
        });
        req.on('error', () => resolve(null));
        req.end(`output of ${slug}`);
      });
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const slug = SLUGS[(w + i) % SLUGS.length]!;
        sent.set(slug, sent.get(slug)! + 1);
        const status = await one(slug);
        if (status === 200) acked.set(slug, acked.get(slug)! + 1);
        else if (status === null) return; // the server is gone
        else throw new Error(`unexpected answer ${status}`);
      }
    };
    const workers = Array.from({ length: 32 }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 700 + Math.random() * 600));
    s.child.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    agent.destroy();
    expect((await s.exited).signal).toBe('SIGKILL');
    const stored = new Map(query<{ slug: string; n: number }>(s.db, 'SELECT slug, count(*) AS n FROM beats GROUP BY slug').map((r) => [r.slug, r.n]));
    const total = [...acked.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(50); // it really was under load
    for (const slug of SLUGS) {
      expect({ slug, atLeast: (stored.get(slug) ?? 0) >= acked.get(slug)!, atMost: (stored.get(slug) ?? 0) <= sent.get(slug)! }).toEqual({ slug, atLeast: true, atMost: true });
    }
    expect(query(s.db, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
  }, 60_000);
});
