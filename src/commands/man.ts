/**
 * The man page, medic(1), generated from the CLI's own definitions (the same ones `--help` prints)
 * and the tables of src/help.ts. scripts/build.mjs writes it to dist/medic.1 through the hidden
 * `medic __man`; package.json's "man" installs it.
 */
import { ENVIRONMENT, EXIT_STATUS, FILES, type Example } from '../help.js';

/** The parts of a commander Command and Help the page reads (structural: no commander types here). */
export interface ManCommandLike {
  name(): string;
  createHelp(): ManHelpLike;
}
/** addHelpText's listener: it writes its text through the context. */
type HelpTextListener = (context: { error: boolean; command: ManCommandLike; write: (text: string) => void }) => void;
export interface ManHelpLike {
  visibleCommands(cmd: never): ManCommandLike[];
  visibleOptions(cmd: never): unknown[];
  visibleArguments(cmd: never): unknown[];
  commandUsage(cmd: never): string;
  commandDescription(cmd: never): string;
  optionTerm(option: never): string;
  optionDescription(option: never): string;
  argumentTerm(argument: never): string;
  argumentDescription(argument: never): string;
}

/** A term (an option's flags, an argument) and what it means. */
export interface Item {
  term: string;
  description: string;
}

export interface ManCommand {
  name: string;
  usage: string;
  description: string;
  args: Item[];
  options: Item[];
  /** What the command's help prints after its lists, examples excepted. */
  notes: string;
  examples: readonly Example[];
}

export interface ManSpec {
  usage: string;
  description: string;
  options: Item[];
  commands: ManCommand[];
  examples: readonly Example[];
}

/**
 * The program and its visible commands as `--help` shows them, with `examples` by command name
 * (`medic`: the program's). `exampleText` is the help's own rendering of them, which the help adds
 * after the notes: left out of the notes here, the page shows the examples in its own form.
 */
export function manSpec(program: ManCommandLike, examples: Readonly<Record<string, readonly Example[]>>, exampleText: (examples: readonly Example[]) => string): ManSpec {
  const help = program.createHelp();
  const items = (cmd: ManCommandLike) => ({
    args: help.visibleArguments(cmd as never).map((a) => ({ term: help.argumentTerm(a as never), description: help.argumentDescription(a as never) })),
    options: help.visibleOptions(cmd as never).map((o) => ({ term: help.optionTerm(o as never), description: help.optionDescription(o as never) })),
  });
  const commands = help.visibleCommands(program as never).map((cmd): ManCommand => {
    const mine = examples[cmd.name()] ?? [];
    let notes = '';
    // A commander Command is an EventEmitter (its typings do not say so): addHelpText('after') listens to afterHelp.
    const listeners = (cmd as unknown as { listeners(event: string): HelpTextListener[] }).listeners('afterHelp');
    for (const listener of listeners) listener({ error: false, command: cmd, write: (text) => (notes += text) });
    if (mine.length > 0) notes = notes.replace(`${exampleText(mine)}\n`, '');
    return { name: cmd.name(), usage: help.commandUsage(cmd as never), description: help.commandDescription(cmd as never), ...items(cmd), notes: notes.trim(), examples: mine };
  });
  return { usage: help.commandUsage(program as never), description: help.commandDescription(program as never), options: items(program).options, commands, examples: examples.medic ?? [] };
}

/**
 * Text for a roff text line: backslashes as `\e`, a leading `.` or `'` (a request) made plain with
 * `\&`. With `code`, hyphens as `\-` (a minus: options and command lines must paste as typed).
 */
export function roffText(text: string, opts: { code?: boolean } = {}): string {
  let out = text.replace(/\\/g, '\\e');
  // In prose, an option named in passing (`--retry-refused`, `-m`) is code too.
  out = opts.code ? out.replace(/-/g, '\\-') : out.replace(/(?<![\w-])--?[A-Za-z][\w-]*/g, (option) => option.replace(/-/g, '\\-'));
  // Beyond ASCII (×, —): groff's named-by-code form, which needs no input encoding.
  out = out.replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);
  return out.replace(/^[.']/gm, '\\&$&');
}

/** Code (an option term, a usage line, an example): bold, hyphens as minus signs. */
const code = (text: string) => `\\fB${roffText(text, { code: true })}\\fR`;

/** Prose: blank lines start new paragraphs, other lines are filled by roff. */
function paragraphs(text: string): string[] {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean)
    .flatMap((p) => ['.PP', ...p.split('\n').map((line) => roffText(line.trim()))]);
}

function items(list: Item[]): string[] {
  return list.flatMap((i) => ['.TP', code(i.term), roffText(i.description)]);
}

function examples(list: readonly Example[]): string[] {
  return list.flatMap((e) => ['.PP', roffText(`${e.says}${e.crontab ? ' (a crontab line)' : ''}:`), '.RS', '.nf', code(e.line), '.fi', '.RE']);
}

/** The whole page (man(7) macros). */
export function manPage(spec: ManSpec, version: string): string {
  const lines = [
    `.TH MEDIC 1 "" "medic ${roffText(version)}" "User Commands"`,
    // No hyphenation, ragged right: options and paths stay whole and copyable.
    '.nh',
    '.ad l',
    '.SH NAME',
    `medic \\- ${roffText(spec.description.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase()))}`,
    '.SH SYNOPSIS',
    code(spec.usage),
    '.SH DESCRIPTION',
    'A job runs \\fBmedic beat\\fR \\fIslug\\fR when it has done its work; \\fBmedic check\\fR, run every minute from cron,',
    'opens an incident for every service that went quiet and resolves it when the beats come back.',
    'Every command takes \\fB\\-c\\fR, \\fB\\-\\-config\\fR \\fIpath\\fR and \\fB\\-\\-help\\fR.',
    '.SH OPTIONS',
    ...items(spec.options),
    '.SH COMMANDS',
    ...spec.commands.flatMap((c) => [
      `.SS ${code(`medic ${c.name}`)}`,
      code(c.usage),
      '.PP',
      roffText(c.description),
      ...(c.args.length > 0 ? ['.PP', 'Arguments:', ...items(c.args)] : []),
      ...(c.options.length > 0 ? ['.PP', 'Options:', ...items(c.options)] : []),
      ...paragraphs(c.notes),
      ...(c.examples.length > 0 ? ['.PP', 'Examples:', ...examples(c.examples)] : []),
    ]),
    '.SH EXIT STATUS',
    ...EXIT_STATUS.flatMap(([status, meaning]) => ['.TP', `\\fB${status}\\fR`, roffText(meaning)]),
    '.PP',
    '\\fBmedic run\\fR exits with its command\'s own code instead (see its section above).',
    '.SH ENVIRONMENT',
    ...ENVIRONMENT.flatMap(([name, meaning]) => ['.TP', `\\fB${roffText(name, { code: true })}\\fR`, roffText(meaning)]),
    '.SH FILES',
    ...FILES.flatMap(([name, meaning]) => ['.TP', `\\fI${roffText(name, { code: true })}\\fR`, roffText(meaning)]),
    '.SH EXAMPLES',
    ...examples(spec.examples),
    '.SH SEE ALSO',
    '\\fBcrontab\\fR(5), \\fBsystemd.timer\\fR(5).',
    'The full documentation is in the README and the docs folder of the package',
    '(\\fInpm root \\-g\\fR/medic), and in the project\'s repository.',
    '',
  ];
  return lines.join('\n');
}
