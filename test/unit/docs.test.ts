/**
 * The documentation stays true to the code: config examples validate, links land, the README's
 * command list matches `medic --help`, and no doc holds a routing key or a path of the machine
 * that wrote it.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { schemaProblems } from '../../src/config-schema.js';
import { tempProject, type CliResult } from '../helpers/cli.js';
import { standIns } from '../helpers/standins.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const DOCS = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const text = (doc: string) => readFileSync(join(root, doc), 'utf8');
const schema = JSON.parse(readFileSync(join(root, 'medic.schema.json'), 'utf8'));
const CONFIG_KEYS = new Set(Object.keys(schema.properties));
/** The routing key of PagerDuty's integration guide: the only key any doc may show. */
const GUIDE_KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';

/** Fenced code blocks, with their language and the line they start on. */
function fences(markdown: string): { lang: string; body: string; line: number }[] {
  const blocks: { lang: string; body: string; line: number }[] = [];
  let open: { lang: string; lines: string[]; line: number } | null = null;
  markdown.split('\n').forEach((l, i) => {
    const fence = /^\s*```(\S*)/.exec(l);
    if (fence && !open) open = { lang: fence[1]!, lines: [], line: i + 1 };
    else if (fence && open) {
      blocks.push({ lang: open.lang, body: open.lines.join('\n'), line: open.line });
      open = null;
    } else open?.lines.push(l);
  });
  return blocks;
}

/** The markdown outside fenced blocks and inline code: the prose where links and headings live. */
function prose(markdown: string): string {
  return markdown
    .split(/^\s*```.*$/m)
    .filter((_, i) => i % 2 === 0)
    .join('\n')
    .replace(/`[^`\n]*`/g, '``');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const outside = markdown.split(/^\s*```.*$/m).filter((_, i) => i % 2 === 0).join('\n');
  for (const [, heading] of outside.matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const plain = heading!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = plain.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** A ```json block as a config: itself when it is an object, else wrapped in braces (a `"key": ...` excerpt). */
function asConfig(body: string): { value: Record<string, unknown>; whole: boolean } | null {
  for (const [candidate, whole] of [
    [body, true],
    [`{${body}}`, false],
  ] as const) {
    try {
      const value = JSON.parse(candidate) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) return { value: value as Record<string, unknown>, whole };
    } catch {
      // not this form
    }
  }
  return null;
}

/** Every ```json block that looks like a Medic config (has a top-level config key). */
const configBlocks = DOCS.flatMap((doc) =>
  fences(text(doc))
    .filter((b) => b.lang === 'json')
    .map((b) => ({ where: `${doc}:${b.line}`, config: asConfig(b.body), body: b.body }))
    .filter((b) => b.config !== null && Object.keys(b.config.value).some((k) => CONFIG_KEYS.has(k))),
);

describe('config examples in README.md and docs/', () => {
  it('are found (the walk sees excerpts and whole files)', () => {
    expect(configBlocks.some((b) => b.config!.whole)).toBe(true);
    expect(configBlocks.some((b) => !b.config!.whole)).toBe(true);
    expect(configBlocks.map((b) => b.where)).toEqual(expect.arrayContaining([expect.stringMatching(/^README\.md:/), expect.stringMatching(/^docs\/configuration\.md:/)]));
  });

  it('every ```json block is valid JSON, alone or as a "key": value excerpt', () => {
    const broken = DOCS.flatMap((doc) =>
      fences(text(doc))
        .filter((b) => b.lang === 'json' && asConfig(b.body) === null)
        .map((b) => `${doc}:${b.line}`),
    );
    expect(broken).toEqual([]);
  });

  it.each(configBlocks.map((b) => [b.where, b] as const))('%s validates against medic.schema.json', (_where, block) => {
    expect(schemaProblems(block.config!.value)).toEqual([]);
  });

  it.each(configBlocks.filter((b) => b.config!.whole).map((b) => [b.where, b] as const))('%s, a whole config, loads with no problems', (_where, block) => {
    expect(() => buildConfig(block.config!.value, join(root, 'medic.config.json'), { env: {}, cwd: root })).not.toThrow();
  });

  it('a config with a mistake would be caught (the check is not vacuous)', () => {
    expect(schemaProblems({ defaults: { priorty: 'P1' } })).not.toEqual([]);
  });
});

describe('links in README.md and docs/', () => {
  const links = DOCS.flatMap((doc) =>
    [...prose(text(doc)).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => ({ doc, href: m[1]! })).filter((l) => !/^[a-z]+:/i.test(l.href)),
  );

  it('are found', () => {
    expect(links.length).toBeGreaterThan(20);
    expect(links.some((l) => l.href.includes('#'))).toBe(true);
  });

  it('every relative link points at a file of the repository, and at a heading that exists', () => {
    const broken = links.filter(({ doc, href }) => {
      const [path, anchor] = href.split('#');
      const file = path ? resolve(dirname(join(root, doc)), decodeURIComponent(path)) : join(root, doc);
      if (relative(root, file).startsWith('..') || !existsSync(file)) return true;
      return anchor !== undefined && (!file.endsWith('.md') || !anchors(readFileSync(file, 'utf8')).has(anchor));
    });
    expect(broken.map((l) => `${l.doc}: ${l.href}`)).toEqual([]);
  });

  it.each([
    ['## When a service is down', 'when-a-service-is-down'],
    ['## `medic pause` / `medic resume`', 'medic-pause--medic-resume'],
    ['## Checker heartbeat (`checker.heartbeatUrl`)', 'checker-heartbeat-checkerheartbeaturl'],
    ['### `medic history <slug> [--since <duration>] [--json]`', 'medic-history-slug---since-duration---json'],
    ['## Exit codes\n## Exit codes', 'exit-codes-1'],
  ])('the anchor of %j is %s', (heading, anchor) => {
    expect(anchors(heading)).toContain(anchor);
  });
});

describe("the README's command list", () => {
  const project = tempProject();
  afterAll(() => project.remove());
  const readme = text('README.md');
  const section = readme.slice(readme.indexOf('\n## Commands\n'), readme.indexOf('\n## ', readme.indexOf('\n## Commands\n') + 1));
  /** Rows like "| `medic pause <slug...> [--for <duration>]` | ... |": the command and its options. */
  const listed = [...section.matchAll(/^\|\s*`medic ([a-z-]+)([^`]*)`/gm)].map((m) => ({ command: m[1]!, options: [...m[2]!.matchAll(/--[a-z-]+/g)].map((o) => o[0]) }));

  it('names commands', () => {
    expect(listed.map((l) => l.command)).toEqual(expect.arrayContaining(['beat', 'check', 'status']));
  });

  it('names only commands that `medic --help` lists, and every one it lists', async () => {
    const res = await project.run(['--help']);
    expect(res.code).toBe(0);
    const help = res.stdout.slice(res.stdout.indexOf('Commands:'));
    const commands = [...help.matchAll(/^ {2}([a-z-]+)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands.length).toBeGreaterThan(5);
    expect([...new Set(listed.map((l) => l.command))].sort()).toEqual(commands.sort());
  });

  // One `--help` process per listed command (16 now): a few seconds on a loaded machine.
  it('names only options that the command takes', { timeout: 60_000 }, async () => {
    const unknown: string[] = [];
    for (const { command, options } of listed) {
      const res = await project.run([command, '--help']);
      expect(res.code).toBe(0);
      for (const option of options) if (!new RegExp(`${option}\\b`).test(res.stdout)) unknown.push(`medic ${command} ${option}`);
    }
    expect(unknown).toEqual([]);
  });
});

describe('what the docs may not hold', () => {
  it.each(DOCS)('%s shows no routing key but the guide example', (doc) => {
    const tokens = text(doc).match(/(?<![A-Za-z0-9])[A-Za-z0-9]{32}(?![A-Za-z0-9])/g) ?? [];
    expect(tokens.filter((t) => /\d/.test(t) && /[A-Za-z]/.test(t) && t !== GUIDE_KEY)).toEqual([]);
  });

  it.each(DOCS)('%s has no "pending" marker left: every sentence is true of the code today', (doc) => {
    expect(text(doc).match(/<!--\s*pending[^]*?-->/g) ?? []).toEqual([]);
  });

  it.each(DOCS)('%s holds no path of the machine that wrote it', (doc) => {
    const content = text(doc);
    expect(content).not.toContain(root);
    // The folder beside the project that a clone does not have (spelt in two parts so that a
    // search for files reading it does not find this check).
    expect(content).not.toContain(['..', 'shared'].join('/'));
  });
});

/** A port nobody listens on right now, for the README's stand-in (which names its port). */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
    server.on('error', fail);
  });
}

/** Output with what changes from run to run masked: instants, "2s ago", column padding. */
function masked(output: string): string {
  return output
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>')
    .replace(/\b\d+s ago\b/g, '<n>s ago')
    // The host that ran the last check (README and alerting.md show `by <host>`, commands.md a name).
    .replace(/( ago) by \S+$/gm, '$1 by <host>')
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .join('\n');
}

describe("the README's see-it-page demo", () => {
  const readme = text('README.md');
  const section = readme.slice(readme.indexOf('### See it page'), readme.indexOf('### Set it up for real'));
  const blocks = fences(section);

  it('pages and resolves as shown, through the stand-in the README gives', async () => {
    const script = blocks.find((b) => b.lang === 'sh' && b.body.includes('createServer'))!.body;
    const portShown = /\.listen\((\d+)/.exec(script)![1]!;
    const port = String(await freePort());
    const code = /^node -e '([\s\S]*)'$/m.exec(script)![1]!.replaceAll(portShown, port);
    const standIn = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    // The stand-in runs until killed: also when this worker ends early (a timeout), not only below.
    const stop = () => standIn.kill();
    process.once('exit', stop);
    let received = '';
    standIn.stdout.setEncoding('utf8').on('data', (s: string) => (received += s));
    const project = tempProject(JSON.parse(blocks.find((b) => b.lang === 'json')!.body.replaceAll(portShown, port)));
    try {
      await expect.poll(() => received, { timeout: 10_000 }).toContain(`http://127.0.0.1:${port}`);
      const env: Record<string, string> = {};
      const sessions = blocks.filter((b) => b.lang === 'console');
      expect(sessions.length).toBeGreaterThanOrEqual(2);
      for (const session of sessions) {
        // "$ command; command" lines, each followed by what the commands print.
        for (const [, line, shown] of session.body.matchAll(/^\$ (.*)\n((?:(?!\$ ).*\n?)*)/gm)) {
          let printed = '';
          for (const step of line!.split('; ')) {
            const words = step.trim().split(/\s+/);
            if (words[0] === 'export') {
              const [name, value] = words[1]!.split('=');
              env[name!] = value!;
            } else if (words[0] === 'sleep') {
              await new Promise((r) => setTimeout(r, Number(words[1]) * 1000));
            } else {
              expect(words[0]).toBe('medic');
              const res: CliResult = await project.run(words.slice(1), { env });
              expect(res.stderr).toBe('');
              expect(res.code).toBe(0);
              printed += res.stdout;
            }
          }
          expect(masked(printed), line).toBe(masked(shown!));
        }
      }
      expect(env.PAGERDUTY_ROUTING_KEY).toBe(GUIDE_KEY);
      const events = received.split('\n').filter((l) => l.startsWith('POST /v2/enqueue '));
      expect(events.map((l) => JSON.parse(l.slice('POST /v2/enqueue '.length)))).toEqual([
        expect.objectContaining({ event_action: 'trigger', dedup_key: 'medic-heartbeat-demo-job' }),
        { routing_key: GUIDE_KEY, event_action: 'resolve', dedup_key: 'medic-heartbeat-demo-job' },
      ]);
    } finally {
      stop();
      process.off('exit', stop);
      project.remove();
    }
  }, 60_000);
});

/** Every key path of a JSON value: `changes[].slug`, `muted.kind`; list items merged. */
function shape(value: unknown, at = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => shape(item, `${at}[]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => [`${at}${at ? '.' : ''}${key}`, ...shape(child, `${at}${at ? '.' : ''}${key}`)]);
}

describe('the --json examples in docs/commands.md', () => {
  const standIn = standIns();
  const commands = text('docs/commands.md');
  /** The first block of a command's section that is JSON once its `$ medic ...` line is dropped. */
  const example = (command: string): unknown => {
    const start = commands.indexOf(`\n## \`medic ${command}`);
    const section = commands.slice(start, commands.indexOf('\n## ', start + 1));
    for (const block of fences(section)) {
      try {
        return JSON.parse(block.body.replace(/^\$ .*$/m, ''));
      } catch {
        // not the JSON example
      }
    }
    throw new Error(`no JSON example under medic ${command}`);
  };

  it('show the fields that check, status, history and replay print, and no others', async () => {
    const pd = await standIn();
    const project = tempProject({
      targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
      services: [{ slug: 'queue-worker', name: 'Queue Worker', team: 'platform', interval: '1s', grace: '0s' }],
    });
    const env = { PAGERDUTY_ROUTING_KEY: GUIDE_KEY };
    try {
      expect((await project.run(['beat', 'queue-worker'], { env })).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1500));
      const check = await project.run(['check', '--json'], { env });
      expect(check.code).toBe(0);
      expect(pd.accepted).toHaveLength(1);
      expect((await project.run(['beat', 'queue-worker'], { env })).code).toBe(0);
      const runs = {
        check: JSON.parse(check.stdout),
        status: JSON.parse((await project.run(['status', 'queue-worker', '--json'], { env })).stdout),
        history: JSON.parse((await project.run(['history', 'queue-worker', '--since', '5m', '--json'], { env })).stdout),
      };
      const top = (v: unknown) => Object.keys((Array.isArray(v) ? v[0] : v) as object);
      for (const [command, real] of Object.entries(runs)) {
        const documented = [...new Set(shape(example(command)))].sort();
        expect([...new Set(shape(real))].sort(), `medic ${command} --json`).toEqual(documented);
        // In the order the binary prints them.
        expect(top(real), `medic ${command} --json key order`).toEqual(top(example(command)));
      }
      // Replay's incident lists may be empty in a run this short: every key it prints is documented,
      // and every documented key outside those lists is printed, in the documented order.
      const replay = JSON.parse((await project.run(['replay', 'queue-worker', '--json'], { env })).stdout);
      const documented = shape(example('replay'));
      // `uncovered` holds real incidents, documented as the items of `actual` are.
      const printed = shape(replay).map((k) => k.replace('.uncovered[].', '.actual[].'));
      expect(printed.filter((k) => !documented.includes(k)), 'medic replay --json').toEqual([]);
      expect(shape(replay), 'medic replay --json').toEqual(expect.arrayContaining(documented.filter((k) => !/\.(replayed|actual|uncovered)\[\]/.test(k))));
      expect(top(replay)).toEqual(top(example('replay')));
      expect(Object.keys(replay.services[0])).toEqual(Object.keys((example('replay') as { services: object[] }).services[0]!));
    } finally {
      project.remove();
    }
  }, 60_000);
});

type SchemaNode = Record<string, any>;

/** One place a key can be: `defaults.interval`, `targets.*.channel`, and the target type it belongs to (null: any). */
interface KeyAt {
  path: string;
  type: string | null;
}

const resolveRef = (n: SchemaNode): SchemaNode =>
  typeof n?.$ref === 'string' ? { ...n, ...resolveRef(n.$ref.replace(/^#\//, '').split('/').reduce((o: SchemaNode, p: string) => o[p], schema)) } : n;

/**
 * A node and every branch a value may also have to match (then/else, allOf/anyOf/oneOf, nested:
 * a target's allOf holds if/then pairs), each with the target type it applies to: a `then` whose
 * `if` requires `"type": "<const>"` is that type's (the target type dispatch).
 */
function branches(node: SchemaNode, type: string | null): { node: SchemaNode; type: string | null }[] {
  const n = resolveRef(node);
  const dispatched = n.if?.properties?.type?.const;
  const more: [unknown, string | null][] = [
    [n.then, typeof dispatched === 'string' ? dispatched : type],
    [n.else, type],
    ...[...(n.allOf ?? []), ...(n.anyOf ?? []), ...(n.oneOf ?? [])].map((b: unknown): [unknown, string | null] => [b, type]),
  ];
  return [{ node: n, type }, ...more.filter(([b]) => b && typeof b === 'object').flatMap(([b, t]) => branches(b as SchemaNode, t))];
}

/** Where keys can be in medic.schema.json: `defaults.interval`, `targets.*.type`, `services[].slug`, with the target type of each. */
function schemaPaths(node: SchemaNode, at = '', type: string | null = null): KeyAt[] {
  const child = (key: string) => `${at}${at ? '.' : ''}${key}`;
  return branches(node, type).flatMap(({ node: b, type: t }) => [
    ...Object.entries<SchemaNode>(b.properties ?? {}).flatMap(([key, sub]) => [{ path: child(key), type: t }, ...schemaPaths(sub, child(key), t)]),
    // A map's values (the targets under their names) start untyped: their own dispatch types them.
    ...(b.additionalProperties && typeof b.additionalProperties === 'object' ? [{ path: `${at}.*`, type: null }, ...schemaPaths(b.additionalProperties, `${at}.*`, null)] : []),
    ...(b.items && typeof b.items === 'object' && !Array.isArray(b.items) ? schemaPaths(b.items, `${at}[]`, t) : []),
  ]);
}

const TARGET_TYPES = ['pagerduty', 'slack', 'webhook'];

describe('the "Every key" table in docs/configuration.md', () => {
  const doc = text('docs/configuration.md');
  const table = doc.slice(doc.indexOf('\n## Every key'), doc.indexOf('\n## ', doc.indexOf('\n## Every key') + 1));
  // "| `targets.<name>.channel` (slack) |": a key only some target types have names them.
  const rowList = [...table.matchAll(/^\| `([^`]+)`(?: \(([a-z, ]+)\))? \|/gm)].map((m) => ({ path: m[1]!.replace(/<name>/g, '*'), types: m[2]?.split(', ') ?? null }));
  const rows = rowList.map((r) => r.path);
  // A severity map's P1-P4 entries are described by the map's own row.
  const keys = schemaPaths(schema).map((k) => ({ ...k, path: k.path.replace(/\.P[1-4]$/, '') }));
  const paths = [...new Set(keys.map((k) => k.path))];
  const leaves = paths.filter((p) => !paths.some((q) => q.startsWith(`${p}.`) || q.startsWith(`${p}[]`)));
  /** The target types a key belongs to, null when every type has it. */
  const typesOf = (path: string): string[] | null => {
    const types = new Set(keys.filter((k) => k.path === path).map((k) => k.type));
    if (types.has(null) || TARGET_TYPES.every((t) => types.has(t))) return null;
    return TARGET_TYPES.filter((t) => types.has(t));
  };

  it('is found, and the walk reaches nested keys and each target type\'s keys', () => {
    expect(rows.length).toBeGreaterThan(30);
    expect(leaves).toEqual(expect.arrayContaining(['targets.*.routingKeyFile', 'targets.*.channel', 'targets.*.secretFile', 'services[].severity', 'maintenance[].timezone', 'flap.maxTriggers']));
    expect(typesOf('targets.*.routingKeyFile')).toEqual(['pagerduty']);
    expect(typesOf('targets.*.tokenEnv')).toEqual(['slack']);
    expect(typesOf('targets.*.url')).toEqual(['webhook']);
    expect(typesOf('targets.*.timeout')).toBeNull();
    expect(typesOf('targets.*.priorities')).toBeNull();
    expect(typesOf('targets.*.type')).toBeNull();
  });

  it('has a row for every key of medic.schema.json, per target type', () => {
    const missing = leaves.filter((p) => !rows.includes(p));
    expect(missing.map((p) => (typesOf(p) ? `${typesOf(p)!.join(', ')}: ${p}` : p))).toEqual([]);
  });

  it('names the target types of a key that only some have, and none for a key every type has', () => {
    const wrong = rowList.filter((r) => paths.includes(r.path)).filter((r) => JSON.stringify(r.types) !== JSON.stringify(typesOf(r.path)));
    expect(wrong.map((r) => `${r.path}: the row says ${r.types?.join(', ') ?? 'every type'}, the schema ${typesOf(r.path)?.join(', ') ?? 'every type'}`)).toEqual([]);
  });

  it('has no row for a key the schema does not know', () => {
    expect(rows.filter((r) => !paths.includes(r))).toEqual([]);
  });
});
