import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type BeatTarget, quickBeatTarget, resolveBeat } from '../../src/commands/beat.js';
import { buildConfig, findConfig } from '../../src/config.js';
import { isSlug, SLUG_SHAPE } from '../../src/core/slug.js';
import { isMedicError } from '../../src/errors.js';
import { medic } from '../helpers/cli.js';
import { rng } from '../helpers/faults.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'medic-quick-beat-')));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const uid = process.geteuid?.() ?? 0;
let folders = 0;
const folder = () => {
  const d = join(root, `case-${folders++}`);
  mkdirSync(d);
  return d;
};

/** What a beat ends in: where it is written, or the exit code and message it fails with. */
async function outcome(run: () => Promise<BeatTarget | null> | BeatTarget | null): Promise<string> {
  try {
    const t = await run();
    return t === null ? 'no answer' : 'spoolDir' in t ? `spool ${t.spoolDir}` : `database ${t.databasePath} mode 0${t.databaseMode.toString(8)}`;
  } catch (err) {
    return isMedicError(err) ? `exit ${err.exitCode}: ${err.message}` : `crash: ${String(err)}`;
  }
}

interface Case {
  text: Buffer;
  slug: string;
  env: NodeJS.ProcessEnv;
  /** --config (else MEDIC_CONFIG) */
  viaFlag: boolean;
  /** The config file's mode, when not the default. */
  mode?: number;
}

/** The full path alone: the config found and parsed by config.ts, the slug looked up, else full validation. */
function fullPath(file: string, c: Case, cwd: string) {
  const env = c.viaFlag ? c.env : { ...c.env, MEDIC_CONFIG: file };
  const opts = { path: c.viaFlag ? file : undefined, cwd, env, uid };
  return resolveBeat(c.slug, { findConfig: () => findConfig(opts), buildConfig: (raw, f) => buildConfig(raw, f, opts), env, cwd });
}

/** What `medic beat` does: the quick path, and the full path where the quick path has no answer. */
async function shippedPath(file: string, c: Case, cwd: string) {
  const env = c.viaFlag ? c.env : { ...c.env, MEDIC_CONFIG: file };
  return quickBeatTarget({ path: c.viaFlag ? file : undefined, cwd, env, uid }, c.slug) ?? fullPath(file, c, cwd);
}

function writeCase(c: Case, name = 'medic.config.json'): { dir: string; file: string } {
  const dir = folder();
  const file = join(dir, name);
  writeFileSync(file, c.text);
  if (c.mode !== undefined) chmodSync(file, c.mode);
  return { dir, file };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value, null, 2));
/** Compact, as generated configs often are: `"slug":"svc-1","name":"Service 1"` appears verbatim in the text. */
const compact = (value: unknown) => Buffer.from(JSON.stringify(value));
/** Over 256 KB, the size above which the old quick path scanned the text instead of parsing it. */
const manyServices = (n = 3000) => Array.from({ length: n }, (_, i) => ({ slug: `svc-${i}`, name: `Service ${i}`, team: 'platform', interval: '1h' }));

describe('the slug rule (SPEC §2)', () => {
  it('is the pattern medic.schema.json gives slugs', () => {
    const schema = JSON.parse(readFileSync(new URL('../../medic.schema.json', import.meta.url), 'utf8'));
    expect(SLUG_SHAPE.source).toBe(schema.definitions.slug.pattern);
  });

  it.each([
    ['nightly-backup', true],
    ['a', true],
    ['0.9_x-y', true],
    ['a'.repeat(64), true],
    ['a'.repeat(65), false],
    ['', false],
    ['-leading-dash', false],
    ['.hidden', false],
    ['Nightly', false],
    ['svc-1","name":"Service 1', false],
    ['svc/1', false],
    ['svc\n1', false],
    ['svc 1', false],
  ])('%j → %s', (slug, valid) => {
    expect(isSlug(slug)).toBe(valid);
  });
});

describe('the quick path on the configs that misled the old text scan (over 256 KB)', () => {
  it.each<[string, Case, string]>([
    [
      'a "database" key inside a service does not choose the database',
      { text: json({ services: [...manyServices(), { slug: 'odd', database: 'elsewhere.db' }] }), slug: 'svc-1', env: {}, viaFlag: true },
      'database <dir>/medic.db mode 0600',
    ],
    [
      'a truncated (invalid) file exits 78 like a small one',
      { text: json({ services: manyServices() }).subarray(0, 300_000), slug: 'svc-1', env: {}, viaFlag: true },
      'exit 78: config <file> is not valid JSON',
    ],
    [
      'a slug made of JSON fragments is refused by the slug rule (65)',
      { text: compact({ services: manyServices(5000) }), slug: 'svc-1","name":"Service 1', env: {}, viaFlag: true },
      'exit 65: "svc-1\\",\\"name\\":\\"Service 1" is not a valid slug',
    ],
  ])('%s', async (_label, c, expected) => {
    expect(c.text.length).toBeGreaterThan(256 * 1024);
    const { dir, file } = writeCase(c);
    const got = await outcome(() => shippedPath(file, c, dir));
    expect(got.startsWith(expected.replace('<dir>', dir).replace('<file>', file))).toBe(true);
    expect(got).toBe(await outcome(() => fullPath(file, c, dir)));
  });
});

/** The seeded generator of the fault tests (mulberry32): the same cases on every run and every machine. */
function random(seed: number) {
  const r = rng(seed);
  return { ...r, chance: (p: number) => r.next() < p };
}

const SLUGS = ['svc-1', 'svc-2', 'a.b_c', 'svc-1","name":"Service 1', 'svc-11', 'Svc-1', '', 'x'.repeat(65), 'svc\n1', 'svc-3'] as const;
const DATABASES = [undefined, undefined, 'medic.db', 'state/m.db', '/abs/m.db', '', 42, null] as const;

/** A random config, most of them plausible, many of them broken in one of the ways people and attackers break them. */
function randomCase(seed: number): Case {
  const r = random(seed);
  const services: unknown[] = (r.chance(0.15) ? (manyServices() as unknown[]) : []).concat(
    Array.from({ length: 1 + Math.floor(r.next() * 4) }, () => {
      const s: Record<string, unknown> = { slug: r.pick(SLUGS) };
      if (r.chance(0.2)) s.database = r.pick(['other.db', '/tmp/other.db']);
      if (r.chance(0.1)) s.spool = 'service-spool';
      if (r.chance(0.2)) s.interval = r.pick(['5m', '5 minutes', 0]);
      if (r.chance(0.1)) s.name = '"slug": "svc-3"';
      return r.chance(0.05) ? r.pick([null, 'svc-1', 7]) : s;
    }),
  );
  const config: Record<string, unknown> = { services };
  const database = r.pick(DATABASES);
  if (database !== undefined) config.database = database;
  if (r.chance(0.2)) config.databaseMode = r.pick(['0600', '0660', '0644', 660]);
  if (r.chance(0.15)) config.spool = r.pick(['spool', '/var/spool/medic-test', '', 3]);
  if (r.chance(0.1)) config.nested = { database: 'nested.db', slug: 'svc-3' };
  if (r.chance(0.1)) config.servces = [];
  if (r.chance(0.05)) config.services = { slug: 'svc-1' };
  let text = (r.chance(0.3) ? compact : json)(r.chance(0.03) ? r.pick([null, [], 'svc-1', 1]) : config);
  if (r.chance(0.1)) text = text.subarray(0, Math.floor(r.next() * text.length)); // truncated
  if (r.chance(0.05)) text = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text]); // byte-order mark
  if (r.chance(0.05)) text = Buffer.concat([text.subarray(0, 20), Buffer.from([0xff]), text.subarray(20)]); // not UTF-8
  if (r.chance(0.05)) text = Buffer.from(text.toString('utf8').replace('{', '{"database": "first.db", ')); // "database" twice
  const env: NodeJS.ProcessEnv = r.chance(0.2) ? { MEDIC_DB: r.pick(['/env/m.db', 'relative/m.db']) } : {};
  // Modes that config.ts's trust rules may refuse (SPEC §8): the quick path leaves them to it.
  const mode = r.chance(0.1) ? r.pick([0o666, 0o664, 0o600]) : undefined;
  return { text, slug: r.pick(SLUGS), env, viaFlag: r.chance(0.7), mode };
}

describe('the quick path gives the full path’s answer (seeded random configs)', () => {
  const cases = Array.from({ length: 400 }, (_, i) => [i, randomCase(1000 + i)] as const);

  it.each(cases)('case %i', async (_i, c) => {
    const { dir, file } = writeCase(c);
    expect(await outcome(() => shippedPath(file, c, dir))).toBe(await outcome(() => fullPath(file, c, dir)));
  });

  it('covers every kind of answer', async () => {
    const kinds = new Set<string>();
    for (const [, c] of cases) {
      const { dir, file } = writeCase(c);
      const quick = await outcome(() => quickBeatTarget({ path: file, cwd: dir, env: c.env, uid }, c.slug));
      kinds.add(`quick ${quick.split(/[ :]/)[0]}`);
      kinds.add((await outcome(() => fullPath(file, c, dir))).replace(/^(exit \d+|spool|database).*$/s, '$1'));
    }
    expect([...kinds].sort()).toEqual(['database', 'exit 65', 'exit 78', 'quick database', 'quick exit', 'quick no', 'quick spool', 'spool']);
  });
});

/** The files a beat may have gone to, and what is in them: `medic.db: ok, fail (disk full)`, `spool: file, file-fail`. */
function writtenUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name.includes('spool')) found.push(`${p.slice(dir.length)}: ${readdirSync(p).map((n) => n.replace(/^.*?(-[a-z]+)?$/, 'file$1')).join(', ')}`);
        else walk(p);
      } else if (e.name.endsWith('.db')) {
        const db = new Database(p, { readonly: true });
        const beats = db.prepare('SELECT kind, message FROM beats ORDER BY id').all() as { kind: string; message: string | null }[];
        found.push(`${p.slice(dir.length)}: ${beats.map((b) => `${b.kind}${b.message === null ? '' : ` (${b.message})`}`).join(', ')}`);
        db.close();
      }
    }
  };
  walk(dir);
  return found.sort();
}

describe('the real binary: quick path (--config) and full path (config found by the search) agree', { timeout: 300_000 }, () => {
  // A sample: each kind of answer, and the three attacks. Paths stay inside the case's folder.
  const sample: [string, Case][] = [
    ['a listed slug', { text: json({ services: [{ slug: 'svc-1' }] }), slug: 'svc-1', env: {}, viaFlag: true }],
    ['a relative database', { text: json({ database: 'state/m.db', services: [{ slug: 'svc-1' }] }), slug: 'svc-1', env: {}, viaFlag: true }],
    ['a spool', { text: json({ spool: 'spool', services: [{ slug: 'svc-1' }] }), slug: 'svc-1', env: {}, viaFlag: true }],
    ['an unknown slug', { text: json({ services: [{ slug: 'svc-1' }] }), slug: 'svc-2', env: {}, viaFlag: true }],
    ['a broken config and an unknown slug', { text: json({ services: [{ slug: 'svc-1', interval: '5 minutes' }] }), slug: 'svc-2', env: {}, viaFlag: true }],
    ['a database key inside a service', { text: json({ services: [...manyServices(), { slug: 'odd', database: 'elsewhere.db' }] }), slug: 'svc-1', env: {}, viaFlag: true }],
    ['a truncated file', { text: json({ services: manyServices() }).subarray(0, 300_000), slug: 'svc-1', env: {}, viaFlag: true }],
    ['a slug of JSON fragments', { text: compact({ services: manyServices(5000) }), slug: 'svc-1","name":"Service 1', env: {}, viaFlag: true }],
    ['MEDIC_DB', { text: json({ services: [{ slug: 'svc-1' }] }), slug: 'svc-1', env: { MEDIC_DB: 'env-db/m.db' }, viaFlag: true }],
  ];

  /** `medic beat` on the case through both paths, with `extra` arguments: both must end alike and write alike. */
  async function agree(c: Case, extra: string[]): Promise<{ code: number | null; written: string[] }> {
    const answers = [];
    for (const how of ['quick', 'search'] as const) {
      const { dir, file } = writeCase(c);
      if (c.text.includes('"spool"')) {
        mkdirSync(join(dir, 'spool'));
        chmodSync(join(dir, 'spool'), 0o1733);
      }
      const home = join(dir, 'home');
      mkdirSync(home);
      const env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), ...c.env };
      // MEDIC_DB is relative to the working directory: the case's folder, both times.
      const res = await medic(how === 'quick' ? ['beat', c.slug, ...extra, '--config', file] : ['beat', c.slug, ...extra], { cwd: dir, env });
      answers.push({ code: res.code, stderr: res.stderr.replaceAll(dir, '<dir>'), written: writtenUnder(dir) });
      if (how === 'quick') expect(existsSync(file)).toBe(true);
    }
    expect(answers[0]).toEqual(answers[1]);
    return answers[0]!;
  }

  it.each(sample)('%s', async (_label, c) => {
    await agree(c, []);
  });

  // A signal (`--fail -m`, the same for --start) takes the CLI, which tries the quick path with it first.
  const signalled = new Set(['a listed slug', 'a spool', 'an unknown slug', 'a broken config and an unknown slug', 'MEDIC_DB']);
  it.each(sample.filter(([label]) => signalled.has(label)))('with --fail -m: %s', async (_label, c) => {
    const { code, written } = await agree(c, ['--fail', '-m', 'disk full']);
    // Recorded as a failure with its message (in the spool: a -fail entry), or nothing at all.
    expect(written.join('\n')).toMatch(code === 0 ? /: (fail \(disk full\)|file-fail)$/ : /^(|[^:]*: )$/);
  });
});
