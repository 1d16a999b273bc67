/**
 * Fault injection, configuration: 200 malformed configs generated from a fixed seed (wrong types,
 * unknown keys, duplicate slugs, bad and absurd durations, literal routing keys, huge files,
 * invalid UTF-8, truncated or broken JSON, a root that is not an object, a service that pages
 * nobody, a broken YAML file, a missing file or a folder), each written as JSON or YAML, found
 * through --config, MEDIC_CONFIG or the search from the current folder. Every one is rejected with
 * exit 78 and a message naming the key (or the file's problem), never a stack trace. Most run
 * in-process through `main()`; every tenth runs through the real binary.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lchownSync, mkdirSync, mkdtempSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY, STACK_FRAME, fileTempDir, inProcess, medic, rng, spawnMedic } from '../helpers/faults.js';

const SEED = 0x4d454443; // fixed: the same 200 configs every run
const COUNT = 200;

const tmp = fileTempDir('config');
afterAll(() => tmp.remove());

/** How medic words a file that does not parse: its own words, or cosmiconfig's when it found the file by searching. */
const NOT_JSON = /is not valid JSON|JSON Error in/;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** A valid config touching every section; each case breaks it in one place. */
function base(): { [key: string]: Json } {
  return {
    $schema: './node_modules/medic/medic.schema.json',
    database: 'medic.db',
    retention: '30d',
    defaults: { interval: '5m', grace: '1m', threshold: 1, priority: 'P3', targets: ['oncall'] },
    targets: {
      oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl: 'http://127.0.0.1:9/v2/enqueue', timeout: '5s' },
      // Loopback only: even a config wrongly accepted can send nothing anywhere.
      backup: { type: 'pagerduty', routingKeyEnv: 'PD_BACKUP_KEY', eventsUrl: 'https://localhost:9/v2/enqueue', severity: { P1: 'critical' } },
    },
    teams: { platform: { targets: ['oncall', 'backup'] } },
    services: [
      { slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P1', interval: '24h', grace: '30m', runbook: 'https://wiki.example.com/rb' },
      { slug: 'web', interval: '1m' },
      { slug: 'queue.worker', targets: ['backup'], severity: 'error', threshold: 3 },
    ],
    maintenance: [{ services: ['web'], start: '2026-12-01T22:00:00Z', end: '2026-12-02T02:00:00Z', reason: 'storage migration' }],
    checker: { gapThreshold: '10m', heartbeatMethod: 'GET' },
    flap: { window: '1h', maxTriggers: 3 },
  };
}

/** `services[1].interval`, `targets.oncall`, `(root)`: how medic names a key. */
function keyName(path: Path): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function setAt(obj: Json, path: Path, value: Json): void {
  let node: any = obj;
  for (const p of path.slice(0, -1)) node = node[p];
  node[path.at(-1)!] = value;
}

/** Values that break each key (a duration that parses but no clock can hold counts as broken). */
const BAD_VALUES: [Path, Json[]][] = [
  [['services', 'i', 'slug'], [42, true, null, '', 'Has Caps', 'a b', 'x'.repeat(65), '-lead', 'ünïcode']],
  [['services', 'i', 'name'], [5, '', 'x'.repeat(201), []]],
  [['services', 'i', 'interval'], [true, [], {}, '5 minutes', '-1m', '1.5h', '5M', '', '0s', 0, 0.5, -30, '1 h', 'PT5M', '100000000w', 1e300]],
  [['services', 'i', 'grace'], ['soon', -1, '1m ', false, '9999999999999d']],
  [['services', 'i', 'threshold'], ['1', 0, 1.5, -3, 1001, null]],
  [['services', 'i', 'priority'], ['P5', 'high', 3, 'P0', '']],
  [['services', 'i', 'runbook'], ['ftp://example.com/x', 12, 'wiki/page']],
  [['services', 'i', 'severity'], ['fatal', 1, 'CRITICAL', { P1: 'fatal' }, { P9: 'info' }]],
  [['services', 'i', 'team'], ['bad team', 7, '']],
  [['services', 'i', 'targets'], [[], 'oncall', [1], ['oncall', 'oncall'], ['nope']]],
  [['defaults', 'interval'], ['5 min', -5, '0ms']],
  [['defaults', 'grace'], ['a minute', null]],
  [['defaults', 'threshold'], [0, 'two']],
  [['defaults', 'priority'], ['urgent', 'P7']],
  [['defaults', 'targets'], [['nope'], [], 'oncall']],
  [['targets', 'oncall', 'eventsUrl'], ['not a url', 'http://example.com/v2/enqueue', 5, 'ftp://example.com/v2', '']],
  [['targets', 'oncall', 'type'], ['opsgenie', 1, null]],
  [['targets', 'oncall', 'routingKeyEnv'], ['1BAD', 'has-dash', '', 7]],
  [['targets', 'oncall', 'timeout'], ['1 second', -1, true]],
  [['targets', 'oncall', 'severity'], ['critical', { P2: 'fatal' }]],
  [['database'], [5, '', null, []]],
  [['retention'], ['forever', -1]],
  [['checker', 'gapThreshold'], ['10 minutes']],
  [['checker', 'heartbeatMethod'], ['PUT']],
  [['checker', 'heartbeatUrl'], ['ftp://example.com/ping', 'http://example.com/ping', 5]],
  [['flap', 'maxTriggers'], [0, '3', 2.5]],
  [['flap', 'window'], ['an hour']],
  [['services'], [{}, 'web', 5, null]],
  [['targets'], [[], 'oncall', 5]],
  [['teams', 'platform', 'targets'], [[], ['nope']]],
  [['maintenance', 0, 'start'], ['tomorrow', '2026-12-01 22:00', 5]],
  [['maintenance', 0, 'end'], ['2026-11-30T00:00:00Z']],
  [['maintenance', 0, 'services'], [['Nope Caps'], 'web']],
];

const UNKNOWN_KEY_PARENTS: Path[] = [[], ['services', 'i'], ['targets', 'oncall'], ['defaults'], ['checker'], ['flap'], ['teams', 'platform'], ['maintenance', 0], ['targets', 'backup', 'severity']];
const UNKNOWN_KEYS = ['intervall', 'gracee', 'slugg', 'servces', 'priorty', 'eventUrl', 'routingkeyenv', 'treshold', 'enabled', 'comment', 'x-y', 'P5', 'timeout_ms', 'Interval'];
// routingKeyEnv holding the key itself: the key pasted where the variable's name goes.
const LITERAL_KEY_NAMES = ['routing_key', 'routingKey', 'integrationKey', 'integration_key', 'key', 'serviceKey', 'service_key', 'routing-key', 'routingKeyEnv'];

interface Case {
  id: number;
  kind: string;
  /** File name inside the case folder, and its bytes (none: nothing is written there). */
  file: string;
  bytes?: Buffer;
  /** Big files are made sparse: the size is all that matters. */
  sparseBytes?: number;
  how: 'flag' | 'env' | 'search';
  argv: string[];
  /** The message must contain (or match) every one of these. */
  expect: (string | RegExp)[];
  /**
   * The file cannot even be parsed, so `medic beat` must refuse it too. (A beat does not validate
   * the rest of a parseable JSON config, by design: `medic check` does, every minute.)
   */
  unparseable?: boolean;
}

type Draft = Omit<Case, 'id' | 'how' | 'argv' | 'file'> & { file?: string; how?: Case['how'] };

/** Builds the 200 cases. Every choice comes from the seeded generator, so the list never changes. */
function generate(): Case[] {
  const r = rng(SEED);
  const serviceIndex = () => r.int(0, 2);
  const resolve = (path: Path, i: number): Path => path.map((p) => (p === 'i' ? i : p));
  /** A mutated config object, serialised as JSON or YAML (JSON text is YAML), or inside package.json. */
  const structural = (kind: string, cfg: Json, expect: Case['expect']): Draft => {
    const format = r.pick(['json', 'json', 'yaml', 'package'] as const);
    const text = JSON.stringify(cfg, null, 2);
    if (format === 'package') return { kind, file: 'package.json', how: 'search', bytes: Buffer.from(JSON.stringify({ name: 'app', private: true, medic: cfg })), expect };
    return { kind, file: format === 'yaml' ? '.medicrc.yaml' : 'medic.config.json', bytes: Buffer.from(text), expect };
  };
  const makers: (() => Draft)[] = [
    () => {
      const [template, values] = r.pick(BAD_VALUES);
      const path = resolve(template, serviceIndex());
      const cfg = base();
      const value = r.pick(values);
      setAt(cfg, path, value);
      return structural(`wrong value ${JSON.stringify(value)?.slice(0, 40)}`, cfg, [keyName(path)]);
    },
    () => {
      const parent = resolve(r.pick(UNKNOWN_KEY_PARENTS), serviceIndex());
      const key = r.pick(UNKNOWN_KEYS);
      const cfg = base();
      setAt(cfg, [...parent, key], r.pick([true, 5, '5m', null, { a: 1 }]));
      return structural(`unknown key ${key}`, cfg, [`${keyName(parent)}: unknown key "${key}"`]);
    },
    () => {
      const cfg = base();
      const services = cfg.services as { [key: string]: Json }[];
      const [i, j] = r.pick([[0, 1], [0, 2], [1, 2]] as const);
      services[j]!.slug = services[i]!.slug!;
      return structural('duplicate slug', cfg, [`services[${j}].slug`, `already used by services[${i}]`]);
    },
    () => {
      const cfg = base();
      const key = r.pick(LITERAL_KEY_NAMES);
      const target = r.pick(['oncall', 'backup']);
      setAt(cfg, ['targets', target, key], KEY);
      return structural(`literal routing key as ${key}`, cfg, [keyName(['targets', target, key]), /must not be written in the config file|routing key/]);
    },
    () => {
      const cfg = base();
      const where = r.pick([[], ['services', serviceIndex()], ['defaults']] as Path[]);
      setAt(cfg, [...where, 'routing_key'], KEY);
      return structural('literal routing key outside a target', cfg, [`${keyName(where)}: unknown key "routing_key"`]);
    },
    () => {
      const text = Buffer.from(JSON.stringify(base(), null, 2));
      const bad = r.pick([[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xfe, 0xfe]]);
      const at = text.indexOf('Nightly') + r.int(0, 6);
      return { kind: 'invalid UTF-8', file: 'medic.config.json', how: r.pick(['flag', 'env'] as const), bytes: Buffer.concat([text.subarray(0, at), Buffer.from(bad), text.subarray(at)]), expect: ['is not valid UTF-8'] };
    },
    () => {
      const text = JSON.stringify(base(), null, r.pick([0, 2]));
      const cut = r.int(0, text.length - 1);
      return { kind: `truncated at ${cut}/${text.length}`, file: 'medic.config.json', bytes: Buffer.from(text.slice(0, cut)), expect: [NOT_JSON], unparseable: true };
    },
    () => {
      const text = JSON.stringify(base(), null, 2);
      const broken = r.pick([
        (t: string) => t.replace('"web"', '"web",').replace('"web",\n', '"web"\n').replace(/\n\s*\]/, ',\n]'),
        (t: string) => `// Medic config\n${t}`,
        (t: string) => t.replace(/"slug"/g, "'slug'"),
        (t: string) => t.replace('"threshold": 3', '"threshold": NaN'),
        (t: string) => t.replace('"retention"', 'retention'),
        (t: string) => `${t}\n{}`,
        (t: string) => t.replace('}', '}}'),
      ]);
      return { kind: 'broken JSON syntax', file: 'medic.config.json', bytes: Buffer.from(broken(text)), expect: [NOT_JSON], unparseable: true };
    },
    () => {
      const root = r.pick(['null', '[]', '42', '"medic"', 'true', '[{"slug":"web"}]']);
      return { kind: `root is ${root}`, file: 'medic.config.json', bytes: Buffer.from(root), expect: ['(root): expected an object'], unparseable: true };
    },
    () => {
      const cfg = base();
      delete (cfg.defaults as { [key: string]: Json }).targets;
      return structural('a service that pages nobody', cfg, ['services[1]: "web" would page nobody']);
    },
    () => {
      const yaml = r.pick(['services:\n  - slug: web\n   interval: 5m\n', 'services: [\n', 'targets:\n\toncall: {}\n', 'services:\n  - slug: "web\n']);
      return { kind: 'broken YAML', file: '.medicrc.yaml', bytes: Buffer.from(yaml), expect: [/is not valid YAML: .+ at line \d+, column \d+:\n/, '.medicrc.yaml'], unparseable: true };
    },
  ];
  const rare: Draft[] = [
    { kind: 'huge file (sparse, over the 64 MiB limit)', file: 'medic.config.json', how: 'flag', sparseBytes: 64 * 1024 * 1024 + 1, expect: ['is 67108865 bytes; the limit is'], unparseable: true },
    (() => {
      const cfg = base();
      const many = Array.from({ length: 20_000 }, (_, i) => ({ slug: `job-${i}`, interval: '5m', name: `Job number ${i} of the nightly batch` }));
      (many[12_345] as { [key: string]: Json }).grace = '5 minutes';
      cfg.services = many;
      return { kind: 'large file (20,000 services), one bad deep inside', file: 'medic.config.json', how: 'env' as const, bytes: Buffer.from(JSON.stringify(cfg, null, 2)), expect: ['services[12345].grace'] };
    })(),
    { kind: 'the config path is a folder', file: 'a-folder', how: 'flag', expect: ['is a folder'], unparseable: true },
    { kind: 'the config path does not exist', file: 'missing.json', how: 'env', expect: ['missing.json', 'not found'], unparseable: true },
    { kind: 'no config anywhere', file: '', how: 'search', expect: ['no Medic config found', 'medic init'], unparseable: true },
    { kind: 'empty file', file: 'medic.config.json', how: 'flag', bytes: Buffer.alloc(0), expect: ['is empty'], unparseable: true },
    // Found by the search, an empty file must not read as "no config here" (the search would go on to ~/.config and /etc).
    { kind: 'empty file found by the search', file: 'medic.config.json', how: 'search', bytes: Buffer.alloc(0), expect: [], unparseable: true },
  ];
  const cases: Case[] = [];
  for (let id = 0; id < COUNT; id++) {
    const draft = id % 28 === 5 && rare.length > 0 ? rare.shift()! : r.pick(makers)();
    const file = draft.file ?? 'medic.config.json';
    const how = draft.how ?? (file === 'package.json' ? 'search' : r.pick(['flag', 'flag', 'env', 'search'] as const));
    // Commands that read the whole config; never a real `check`, which could send.
    const argv = r.pick([['status'], ['check', '--dry-run'], ['status', '--json'], ...(draft.unparseable ? [['beat', 'web']] : [])]);
    cases.push({ ...draft, id, file, how, argv });
  }
  return cases;
}

const CASES = generate();

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Writes the case's file into a fresh folder; returns that folder and the argv and env to run it with. */
function prepare(c: Case): { cwd: string; argv: string[]; env: NodeJS.ProcessEnv } {
  const cwd = mkdtempSync(join(tmp.dir, `case-${c.id}-`));
  const path = join(cwd, c.file);
  if (c.kind === 'the config path is a folder') mkdirSync(path);
  else if (c.sparseBytes !== undefined) {
    writeFileSync(path, '');
    truncateSync(path, c.sparseBytes);
  } else if (c.bytes) writeFileSync(path, c.bytes);
  const env: NodeJS.ProcessEnv = {
    HOME: cwd,
    XDG_CONFIG_HOME: join(cwd, '.config'),
    TZ: 'UTC',
    NO_COLOR: '1',
    PAGERDUTY_ROUTING_KEY: KEY,
    PD_BACKUP_KEY: KEY,
    MEDIC_DB: join(cwd, 'medic.db'),
  };
  if (c.how === 'env') env.MEDIC_CONFIG = path;
  const argv = c.how === 'flag' ? ['--config', path, ...c.argv] : c.argv;
  return { cwd, argv, env };
}

describe('the generated malformed configs', { timeout: 120_000 }, () => {
  it('cover every kind of fault, 20 of them through the real binary', () => {
    expect(CASES).toHaveLength(COUNT);
    const kinds = new Set(CASES.map((c) => c.kind.split(' ').slice(0, 2).join(' ')));
    for (const kind of ['wrong value', 'unknown key', 'duplicate slug', 'literal routing', 'invalid UTF-8', 'broken JSON', 'root is', 'huge file', 'large file', 'broken YAML']) {
      expect([...kinds].some((k) => k.startsWith(kind)), kind).toBe(true);
    }
    expect(CASES.some((c) => c.kind.startsWith('truncated'))).toBe(true);
    expect(CASES.filter((c) => c.id % 10 === 0)).toHaveLength(20);
  });

  it('start from a config that is valid as it stands', async () => {
    const cwd = mkdtempSync(join(tmp.dir, 'base-'));
    const path = join(cwd, 'medic.config.json');
    writeFileSync(path, JSON.stringify(base()));
    const r = await inProcess(['--config', path, 'status', '--json'], { cwd, env: { HOME: cwd, PAGERDUTY_ROUTING_KEY: KEY, PD_BACKUP_KEY: KEY, MEDIC_DB: join(cwd, 'medic.db') } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('every malformed config is rejected: exit 78, a message naming the key or the file problem, no stack trace', { timeout: 120_000 }, () => {
  it.each(CASES.map((c) => [`#${c.id} ${c.kind} (${c.file || 'nothing'} via ${c.how}; ${c.id % 10 === 0 ? 'binary' : 'in-process'})`, c] as const))(
    '%s',
    async (_name, c) => {
      const { cwd, argv, env } = prepare(c);
      const r = c.id % 10 === 0 ? await medic(argv, { cwd, env: env as Record<string, string> }) : await inProcess(argv, { cwd, env });
      const said = r.stderr;
      expect(r.code, said).toBe(78);
      // status shows what is valid on its own while the config is broken (then warns, exits 78).
      if (c.argv[0] !== 'status' || c.unparseable) expect(r.stdout, said).toBe('');
      expect(r.stdout).not.toContain(KEY);
      expect(said).toMatch(/^medic: /);
      for (const part of c.expect) expect(said).toMatch(part instanceof RegExp ? part : new RegExp(escape(part)));
      if (c.file) expect(said, 'names the file').toContain(join(cwd, c.file));
      expect(said).not.toMatch(STACK_FRAME);
      expect(said).not.toContain('internal error');
      expect(said).not.toContain(KEY); // a literal key is refused without repeating it
    },
  );
});

describe('the real binary: an explicit config is checked and read as one file', { timeout: 60_000 }, () => {
  const uid = process.getuid!();
  /** A uid that is neither the user running the tests nor root. */
  const stranger = uid === 4242 ? 4243 : 4242;

  it('--config, a .cjs link another user owns (to a file that passes the trust rules), is refused (78) and never run', async () => {
    const cwd = mkdtempSync(join(tmp.dir, 'link-'));
    const marker = join(cwd, 'ran');
    writeFileSync(join(cwd, 'real.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\nmodule.exports = { services: [{ slug: 'web' }] };\n`);
    symlinkSync(join(cwd, 'real.cjs'), join(cwd, 'proposal.cjs'));
    lchownSync(join(cwd, 'proposal.cjs'), stranger, stranger);
    const r = await medic(['--config', join(cwd, 'proposal.cjs'), 'status'], { cwd, env: { HOME: cwd, MEDIC_DB: join(cwd, 'medic.db') } });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toContain(`it is reached through the link ${join(cwd, 'proposal.cjs')}, owned by uid ${stranger}`);
    expect(existsSync(marker)).toBe(false);
  });

  it('medic beat with MEDIC_CONFIG a FIFO (the quick path, then the full one) is refused (78) at once, not waited on', async () => {
    const cwd = mkdtempSync(join(tmp.dir, 'fifo-'));
    const fifo = join(cwd, 'k.json');
    expect(spawnSync('mkfifo', ['-m', '0600', fifo]).status).toBe(0);
    const run = spawnMedic(['beat', 'web'], { cwd, env: { HOME: cwd, MEDIC_CONFIG: fifo, MEDIC_DB: join(cwd, 'medic.db') } });
    const timer = setTimeout(() => run.kill(), 30_000);
    const r = await run.done;
    clearTimeout(timer);
    expect(r.signal, 'it hung and was killed').toBeNull();
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toContain(`refusing config ${fifo}: it is not a regular file`);
  });
});
