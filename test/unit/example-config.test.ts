import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = `${root}medic.config.example.json`;
const example = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
const schema = JSON.parse(readFileSync(`${root}medic.schema.json`, 'utf8'));

type Node = Record<string, any>;

/** A schema node with its `$ref` followed (only local `#/definitions/...` refs exist). */
function resolve(node: Node): Node {
  if (typeof node?.$ref !== 'string') return node;
  const target = node.$ref.replace(/^#\//, '').split('/').reduce((at: Node, part: string) => at[part], schema);
  return { ...node, ...resolve(target) };
}

/** The node plus every branch a value may also have to match (if/then/else, allOf, anyOf, oneOf). */
function branches(node: Node): Node[] {
  const n = resolve(node);
  const more = [n.then, n.else, ...(n.allOf ?? []), ...(n.anyOf ?? []), ...(n.oneOf ?? [])].filter((b) => b && typeof b === 'object');
  return [n, ...more.flatMap(branches)];
}

/**
 * Where a key can be, one path per key: `defaults.interval`, `targets.*.type` (a map's values),
 * `services[].severity.P1` (list items).
 */
function schemaPaths(node: Node, prefix = ''): string[] {
  const paths: string[] = [];
  for (const b of branches(node)) {
    for (const [key, child] of Object.entries<Node>(b.properties ?? {})) {
      const at = prefix ? `${prefix}.${key}` : key;
      paths.push(at, ...schemaPaths(child, at));
    }
    if (b.additionalProperties && typeof b.additionalProperties === 'object') {
      const at = prefix ? `${prefix}.*` : '*';
      paths.push(at, ...schemaPaths(b.additionalProperties, at));
    }
    if (b.items && typeof b.items === 'object') paths.push(...schemaPaths(b.items, `${prefix}[]`));
  }
  return paths;
}

/** The same paths, for the keys a config value actually has. */
function valuePaths(value: unknown, node: Node, prefix = ''): string[] {
  const paths: string[] = [];
  const all = branches(node);
  if (Array.isArray(value)) {
    const items = all.map((b) => b.items).filter((i) => i && typeof i === 'object');
    for (const item of value) for (const i of items) paths.push(...valuePaths(item, i, `${prefix}[]`));
    return paths;
  }
  if (value === null || typeof value !== 'object') return paths;
  for (const [key, child] of Object.entries(value)) {
    const named = all.map((b) => b.properties?.[key]).filter(Boolean);
    const rest = all.map((b) => b.additionalProperties).filter((a) => a && typeof a === 'object');
    const at = named.length > 0 ? (prefix ? `${prefix}.${key}` : key) : prefix ? `${prefix}.*` : '*';
    for (const s of named.length > 0 ? named : rest) paths.push(at, ...valuePaths(child, s, at));
  }
  return paths;
}

/** Every string value in a JSON document. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [k, ...strings(v)]);
}

describe('medic.config.example.json', () => {
  it('loads through the real config loader with no problems', async () => {
    const config = await loadConfig({ path: EXAMPLE, cwd: root, env: {}, uid: process.getuid!() });
    expect(config.file).toBe(EXAMPLE);
    expect(config.services.map((s) => s.slug)).toEqual(example.services.map((s: Node) => s.slug));
    expect(config.services.every((s) => s.targets.length > 0)).toBe(true);
    expect([...config.targets.keys()]).toEqual(Object.keys(example.targets));
    expect(new Set([...config.targets.values()].map((t) => t.type))).toEqual(new Set(['pagerduty', 'slack', 'webhook']));
  });

  it('shows priorities routing: P1-P2 page oncall, every priority posts to team-channel', async () => {
    const config = await loadConfig({ path: EXAMPLE, cwd: root, env: {}, uid: process.getuid!() });
    const targetsOf = (slug: string) => config.bySlug.get(slug)!.targets;
    expect(targetsOf('nightly-backup')).toEqual(['oncall', 'team-channel']); // P1
    expect(targetsOf('queue-worker')).toEqual(['team-channel']); // P3
    expect(targetsOf('report-mailer')).toEqual(['team-channel']); // P4
    expect(targetsOf('search-indexer')).toEqual(['ops-channel', 'tickets']); // P3: both take it
  });

  it('shows every key that medic.schema.json defines', () => {
    const defined = [...new Set(schemaPaths(schema))].sort();
    const shown = new Set(valuePaths(example, schema));
    // Sanity: the walk really reaches nested keys of maps, lists and if/then/else branches.
    expect(defined).toEqual(expect.arrayContaining(['$schema', 'targets.*.routingKeyFile', 'services[].severity.P4', 'maintenance[].timezone', 'flap.maxTriggers']));
    // One defaults object cannot hold both of a pair the schema makes exclusive ("not both"): the
    // example shows defaults.interval; services[].schedule shows what defaults.schedule takes. The
    // one serve section shows serve.pingKeyEnv (serve.pingKeyFile is its alternative). A target
    // names one secret source: the Slack targets show webhookUrlEnv and tokenFile (webhookUrlFile
    // and tokenEnv are their alternatives), the webhook target secretFile (secretEnv).
    const exclusive = ['defaults.schedule', 'serve.pingKeyFile', 'targets.*.webhookUrlFile', 'targets.*.tokenEnv', 'targets.*.secretEnv'];
    expect(exclusive.every((path) => defined.includes(path) && !shown.has(path))).toBe(true);
    expect(defined.filter((path) => !shown.has(path) && !exclusive.includes(path))).toEqual([]);
  });

  it('holds no secret, only where to read one (one source per target)', () => {
    expect(strings(example).filter((s) => /^[A-Za-z0-9+_-]{32}$/.test(s) || /xox[a-z]-|hooks\.slack\.com/i.test(s))).toEqual([]);
    for (const target of Object.values<Node>(example.targets)) {
      expect(Object.keys(target).filter((k) => /^(routingKey|webhookUrl|token|secret)(Env|File)$/.test(k))).toHaveLength(1);
    }
  });
});
