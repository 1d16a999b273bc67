import { describe, expect, it } from 'vitest';
import { pathForLog, route } from '../../src/serve/route.js';

const K = 'abcdefghijklmnop1234';
const RID = '5F0B8C8E-1D2A-4B5C-9D8E-0F1A2B3C4D5E';

describe('route: Healthchecks slug URLs', () => {
  it.each([
    ['GET', `/ping/${K}/backup`, { type: 'ping', key: K, slug: 'backup', kind: 'ok', exitCode: null, runId: null }],
    ['POST', `/ping/${K}/backup/`, { type: 'ping', key: K, slug: 'backup', kind: 'ok', exitCode: null, runId: null }],
    ['HEAD', `/ping/${K}/backup/start`, { type: 'ping', key: K, slug: 'backup', kind: 'start', exitCode: null, runId: null }],
    ['GET', `/ping/${K}/backup/fail`, { type: 'ping', key: K, slug: 'backup', kind: 'fail', exitCode: null, runId: null }],
    ['GET', `/ping/${K}/backup/log`, { type: 'ping', key: K, slug: 'backup', kind: 'log', exitCode: null, runId: null }],
    ['GET', `/ping/${K}/backup/0`, { type: 'ping', key: K, slug: 'backup', kind: 'ok', exitCode: 0, runId: null }],
    ['GET', `/ping/${K}/backup/1`, { type: 'ping', key: K, slug: 'backup', kind: 'fail', exitCode: 1, runId: null }],
    ['GET', `/ping/${K}/backup/255`, { type: 'ping', key: K, slug: 'backup', kind: 'fail', exitCode: 255, runId: null }],
    ['GET', `/ping/${K}/backup/007`, { type: 'ping', key: K, slug: 'backup', kind: 'fail', exitCode: 7, runId: null }],
    ['GET', `/ping/${K}/backup/start?rid=${RID}`, { type: 'ping', key: K, slug: 'backup', kind: 'start', exitCode: null, runId: RID.toLowerCase() }],
    ['GET', `/ping/${K}/backup?rid=`, { type: 'ping', key: K, slug: 'backup', kind: 'ok', exitCode: null, runId: null }],
    ['GET', `/ping/${K}/a%2Db`, { type: 'ping', key: K, slug: 'a-b', kind: 'ok', exitCode: null, runId: null }],
    ['GET', `/ping/${K}/backup/256`, { type: 'bad', reason: 'invalid url format' }],
    ['GET', `/ping/${K}/backup/${'9'.repeat(100)}`, { type: 'bad', reason: 'invalid url format' }],
    ['GET', `/ping/${K}/backup?rid=not-a-uuid`, { type: 'bad', reason: 'invalid rid (expected a UUID)' }],
    ['GET', `/ping/${K}/backup/-1`, { type: 'not-found' }],
    ['GET', `/ping/${K}/backup/start/1`, { type: 'not-found' }],
    ['GET', `/ping/${K}`, { type: 'not-found' }],
    ['GET', `/ping/${K}/%E0%A4%A`, { type: 'not-found' }],
    ['GET', '/', { type: 'not-found' }],
    ['PUT', '/nowhere', { type: 'not-found' }],
    ['PUT', `/ping/${K}/backup`, { type: 'method-not-allowed', allow: 'GET, POST, HEAD' }],
    ['DELETE', '/healthz', { type: 'method-not-allowed', allow: 'GET, POST, HEAD' }],
    ['GET', '/healthz', { type: 'healthz' }],
    ['HEAD', '/healthz', { type: 'healthz' }],
    ['GET', '/metrics', { type: 'metrics' }],
    ['GET', '/metrics?x=1', { type: 'metrics' }],
    ['HEAD', '/metrics', { type: 'metrics' }],
    ['POST', '/metrics', { type: 'method-not-allowed', allow: 'GET, HEAD' }],
    ['GET', '/metrics/', { type: 'not-found' }],
  ])('%s %s', (method, url, expected) => {
    expect(route(method, url)).toEqual(expected);
  });
});

describe('pathForLog never shows the ping key', () => {
  it.each([
    [`/ping/${K}/backup/fail?rid=${RID}`, '/ping/…/backup/fail'],
    [`/ping/${K}/backup`, '/ping/…/backup'],
    [`/ping/${K}/backup/`, '/ping/…/backup/'],
    [`/ping/${K}/backup/256`, '/ping/…/backup/256'],
    [`/ping/${K}/a%2Db`, '/ping/…/a-b'],
    [`/ping/${K}/a%0Afake%0D%1B%E2%80%AEb`, '/ping/…/a%0Afake%0D%1B%E2%80%AEb'],
    ['/ping/almost-the-key-but-not/x', '/ping/…/x'],
    ['/healthz', '/healthz'],
    ['/healthz?x=1', '/healthz'],
    ['/metrics', '/metrics'],
    // Near misses of the ping route: the key could be anywhere in them, so no part is shown.
    [`/ping/${K}`, '<unrouted path, 26 bytes>'],
    [`//ping/${K}/backup`, '<unrouted path, 34 bytes>'],
    [`/ping//${K}/backup`, '<unrouted path, 34 bytes>'],
    [`/x/ping/${K}/backup`, '<unrouted path, 35 bytes>'],
    [`/PING/${K}/backup`, '<unrouted path, 33 bytes>'],
    [`http://h/ping/${K}/backup`, '<unrouted path, 41 bytes>'],
    [`/ping/${K}/backup/start/1`, '<unrouted path, 41 bytes>'],
    [`/?k=${K}`, '<unrouted path, 24 bytes>'],
  ])('%s → %s', (url, shown) => {
    expect(pathForLog(url)).toBe(shown);
    expect(pathForLog(url)).not.toContain(K);
  });

  it('hides a key in the slug before the cut (a cut first kept 29 of 30 characters), in any letter case, and routing keys too', () => {
    const ROUTING = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
    const near = pathForLog(`/ping/x/${'a'.repeat(163)}${K}`, [K]);
    expect(near).toBe(`/ping/…/${'a'.repeat(163)}…`);
    expect(near).not.toContain(K.slice(0, 8));
    expect(pathForLog(`/ping/x/${K.toLowerCase()}`, [K])).toBe('/ping/…/…');
    expect(pathForLog(`/ping/x/${ROUTING}`, [K, ROUTING])).toBe('/ping/…/…');
  });

  it('a slug that does not decode (a stray %) is not shown at all: raw, %50 would spell a key\'s P', () => {
    expect(pathForLog(`/ping/x/%50${K.slice(1)}%zz`, [K])).toBe(`<unrouted path, ${`/ping/x/%50${K.slice(1)}%zz`.length} bytes>`);
  });

  it('cuts a long slug at 200 characters', () => {
    expect(pathForLog(`/ping/${K}/${'s'.repeat(300)}`)).toBe(`/ping/…/${'s'.repeat(192)}…`);
  });
});
