/**
 * What the built `medic` shows with `--help`: an example under the program and every command,
 * every line within 80 columns, examples naming only commands and options that exist; and the man
 * page the build writes from the same definitions (dist/medic.1): current, valid roff (groff -ww
 * without a warning), every command and option of the help in it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../src/help.js';
import { BIN, tempProject } from '../helpers/cli.js';

const project = tempProject();
afterAll(() => project.remove());

const MAN = fileURLToPath(new URL('../../dist/medic.1', import.meta.url));

/** `medic [command] --help`, as a user without a terminal sees it (commander then wraps at 80). */
async function help(command?: string): Promise<string> {
  const res = await project.run(command ? [command, '--help'] : ['--help']);
  if (res.code !== 0 || res.stderr !== '') throw new Error(`medic ${command ?? ''} --help exited ${res.code}: ${res.stderr}`);
  return res.stdout;
}

/** The lines of one "Title:" section of a help text, up to the next blank line. */
function section(text: string, title: string): string[] {
  const start = text.indexOf(`\n${title}:\n`);
  if (start < 0) return [];
  const rest = text.slice(start + title.length + 3);
  return rest.slice(0, rest.search(/\n\n|$/)).split('\n');
}

const programHelp = await help();
const COMMANDS = section(programHelp, 'Commands')
  .map((l) => /^ {2}([a-z-]+)\b/.exec(l)?.[1])
  .filter((c): c is string => c !== undefined && c !== 'help');
const helps = new Map<string, string>([['medic', programHelp]]);
for (const command of COMMANDS) helps.set(command, await help(command));

/** Option names (`-m`, `--message`) in a help's Options section. */
const optionsOf = (text: string) => section(text, 'Options').flatMap((l) => [...(/^ {2}(-[A-Za-z], )?(--[a-z][a-z-]*)/.exec(l) ?? [])].slice(1).filter(Boolean).map((n) => n.replace(/, $/, '')));

describe('--help', () => {
  it('lists the commands (the walk below sees them all)', () => {
    expect(COMMANDS).toEqual(expect.arrayContaining(['init', 'beat', 'run', 'check', 'status', 'serve', 'completion']));
    expect(COMMANDS.length).toBeGreaterThanOrEqual(16);
  });

  it.each(['medic', ...COMMANDS])('%s --help ends with examples ready to paste', (command) => {
    const text = helps.get(command)!;
    const at = text.indexOf('\nExamples:\n');
    expect(at).toBeGreaterThan(0);
    // The last section: "# what it does" lines, each followed by the line to paste ($ or a crontab line).
    const lines = text.slice(at + '\nExamples:\n'.length).trimEnd().split('\n');
    expect(lines.filter((l) => !/^( {2}# \S| {2}\$ medic | {2}\$ \S.* medic | {2}\$ curl | {2}\* \* \* \* \* medic |$)/.test(l))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('  $ ') || l.startsWith('  * ')).length).toBeGreaterThanOrEqual(1);
    expect(lines.at(-1)).toMatch(/^ {2}(\$|\*) /);
  });

  it.each(['medic', ...COMMANDS])('%s --help keeps within 80 columns', (command) => {
    expect(helps.get(command)!.split('\n').filter((l) => l.length > 80)).toEqual([]);
  });

  it('the examples table has no command the CLI lacks', () => {
    expect(Object.keys(EXAMPLES).filter((c) => c !== 'medic' && !COMMANDS.includes(c))).toEqual([]);
  });

  /** Each example's medic words: the command it runs and the options it gives (before any `--`). */
  const examples = Object.entries(EXAMPLES).flatMap(([under, list]) => list.map((e) => [under, e.line] as const));
  it.each(examples)('under %s, `%s` runs that command with options it takes', (under, line) => {
    const words = line.replace(/^(\S+ ){5}/, (m) => (m.startsWith('*') ? '' : m)).match(/'[^']*'|"[^"]*"|\S+/g)!;
    if (under === 'serve' && words[0] === 'curl') return expect(line).toContain('/ping/$MEDIC_PING_KEY/nightly-backup');
    const at = words.indexOf('medic');
    expect(at).toBeGreaterThanOrEqual(0);
    let rest = words.slice(at + 1);
    const global: string[] = [];
    while (rest[0]?.startsWith('-')) {
      global.push(rest[0]);
      rest = rest.slice(rest[0] === '--config' || rest[0] === '-c' ? 2 : 1);
    }
    expect(global.filter((o) => !optionsOf(programHelp).includes(o))).toEqual([]);
    const command = rest[0]!;
    expect(COMMANDS).toContain(command);
    if (under !== 'medic') expect(command).toBe(under);
    const end = rest.indexOf('--');
    const given = (end < 0 ? rest : rest.slice(0, end)).filter((w) => /^--?[a-zA-Z]/.test(w));
    expect(given.filter((o) => !optionsOf(helps.get(command)!).includes(o))).toEqual([]);
  });
});

/** Whether roff source names this option whole: `\-m` is not found inside `\-\-message`. */
function inRoff(roff: string, option: string): boolean {
  const escaped = option.replace(/-/g, '\\-').replace(/\\/g, '\\\\');
  return new RegExp(`(?<!\\\\-)${escaped}(?!\\w|\\\\-)`).test(roff);
}

describe('the man page (dist/medic.1)', () => {
  const page = readFileSync(MAN, 'utf8');
  /** A command's part of the page: from its .SS heading to the next heading. */
  const part = (command: string) => {
    const start = page.indexOf(`\n.SS \\fBmedic ${command.replace(/-/g, '\\-')}\\fR\n`);
    return start < 0 ? '' : page.slice(start, page.indexOf('\n.S', start + 1));
  };

  it('is what the built medic generates now (the build wrote it from the same definitions)', () => {
    expect(execFileSync(process.execPath, [BIN, '__man'], { encoding: 'utf8' })).toBe(page);
  });

  it('is valid roff: groff reads it with every warning on and says nothing', () => {
    const res = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', MAN], { encoding: 'utf8' });
    expect(res.error).toBeUndefined();
    expect({ status: res.status, stderr: res.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('has the sections of a man page', () => {
    const sections = [...page.matchAll(/^\.SH (.+)$/gm)].map((m) => m[1]);
    expect(sections).toEqual(['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'COMMANDS', 'EXIT STATUS', 'ENVIRONMENT', 'FILES', 'EXAMPLES', 'SEE ALSO']);
    expect([...page.matchAll(/^\.TP\n\\fB(\d+)\\fR$/gm)].map((m) => Number(m[1]))).toEqual([0, 64, 65, 70, 74, 75, 76, 78]);
  });

  it.each(COMMANDS)('has %s with every option of its --help, and its examples', (command) => {
    const text = part(command);
    expect(text).not.toBe('');
    const options = optionsOf(helps.get(command)!);
    expect(options.length).toBeGreaterThan(0);
    expect(options.filter((o) => !inRoff(text, o))).toEqual([]);
    for (const e of EXAMPLES[command] ?? []) expect(text).toContain(e.line.replace(/\\/g, '\\e').replace(/-/g, '\\-'));
  });

  it("has the program's own options", () => {
    const options = page.slice(page.indexOf('.SH OPTIONS'), page.indexOf('.SH COMMANDS'));
    expect(optionsOf(programHelp).filter((o) => !inRoff(options, o))).toEqual([]);
  });

  it('has no line a roff reader would take for a request by mistake', () => {
    // Every line is a known macro, or text that does not start with a control character.
    const macros = new Set(['TH', 'SH', 'SS', 'PP', 'TP', 'RS', 'RE', 'nf', 'fi', 'nh', 'ad']);
    expect(page.split('\n').filter((l) => /^[.']/.test(l) && !macros.has(/^[.'](\w+)/.exec(l)?.[1] ?? ''))).toEqual([]);
  });
});
