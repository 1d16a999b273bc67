// Finding and reading the config file: the explicit path (--config, MEDIC_CONFIG) or the search of
// SPEC §2, with the trust rules of SPEC §8. Validation and defaults are in config.ts.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { ConfigError, redactSecrets } from './errors.js';
import { folderTrustProblem, trustProblem } from './file-trust.js';

export const MODULE = 'medic';
export const SEARCH_PLACES = [
  'medic.config.json',
  'medic.config.yaml',
  'medic.config.yml',
  'medic.config.js',
  'medic.config.mjs',
  'medic.config.cjs',
  '.medicrc',
  '.medicrc.json',
  '.medicrc.yaml',
  '.medicrc.yml',
  'package.json',
];
/** In $XDG_CONFIG_HOME/medic/, cosmiconfig's global names come first (as Medic has always read them). */
const XDG_PLACES = ['config', 'config.json', 'config.yaml', 'config.yml', 'config.js', 'config.cjs', 'config.mjs', ...SEARCH_PLACES];
export const MAX_CONFIG_BYTES = 64 * 1024 * 1024;
const JS_EXTENSIONS = ['.js', '.mjs', '.cjs'];

export interface LoadOptions {
  /** From `--config`, else env MEDIC_CONFIG. */
  path?: string;
  /** The working directory: the search starts here, and relative --config, MEDIC_CONFIG and MEDIC_DB resolve against it. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The user running medic (cli.ts: process.getuid()): only files and folders they or root own are trusted. */
  uid: number;
  /** Its primary group: a folder writable only by that group (a user private group) is still trusted. */
  gid?: number;
}

export interface FoundConfig {
  /** Absolute path of the file. */
  file: string;
  /** Its parsed contents, not yet validated. */
  raw: unknown;
}

/** Where the config search looks, in order (SPEC §2), for the "not found" message. */
export function searchDirs(cwd: string, env: NodeJS.ProcessEnv): string[] {
  const home = homeOf(env);
  const upTo = cwd === home || cwd.startsWith(`${home}/`) ? `up to ${home}` : 'up to /';
  return [`${cwd} and its parents ${upTo}`, xdgDir(env), join('/etc', MODULE)];
}

/** The config file and its parsed contents, not yet validated. */
export async function findConfig(opts: LoadOptions): Promise<FoundConfig> {
  const explicit = opts.path ?? opts.env.MEDIC_CONFIG;
  if (!explicit) return search(opts);
  const file = resolve(opts.cwd, explicit);
  // Another user's link is refused before anything about where it leads is looked at or said.
  checkLinks(file, opts.uid);
  let st: Stats;
  try {
    st = statSync(file);
  } catch {
    throw new ConfigError(`config file ${file} not found`, 'check the --config path or MEDIC_CONFIG; `medic init` writes a starter config');
  }
  if (st.isDirectory()) throw new ConfigError(`config ${file} is a folder, not a file`, 'pass the path of the config file itself');
  return { file, raw: await readConfigFile(file, 'explicit', opts.uid, opts.gid) };
}

/**
 * SPEC §2's search, under SPEC §8's rules: from the working directory up (to $HOME when inside it,
 * else to /), then $XDG_CONFIG_HOME/medic and /etc/medic. A folder that someone other than the user
 * or root could have written to ends the upward walk before it is looked into: a file planted there
 * (in /tmp, a shared build folder) must not configure a check that runs as root. A JavaScript config
 * is never run when it was found by searching: it is refused, not skipped, so that nothing falls
 * through to another config silently.
 */
async function search(opts: LoadOptions): Promise<FoundConfig> {
  const skipped: string[] = [];
  const home = homeOf(opts.env);
  const upward: string[] = [];
  for (let dir = resolve(opts.cwd); ; dir = dirname(dir)) {
    upward.push(dir);
    if (dir === home || dirname(dir) === dir) break;
  }
  const walk: { dir: string; stopsWalk: boolean; places: string[] }[] = [
    ...upward.map((dir) => ({ dir, stopsWalk: true, places: SEARCH_PLACES })),
    { dir: xdgDir(opts.env), stopsWalk: false, places: XDG_PLACES },
    { dir: join('/etc', MODULE), stopsWalk: false, places: SEARCH_PLACES },
  ];
  let walking = true;
  /** The last folder of the upward walk that was searched: the walk stops below an untrusted one. */
  let upTo: string | null = null;
  for (const { dir, stopsWalk, places } of walk) {
    if (stopsWalk && !walking) continue;
    let st: Stats;
    try {
      st = statSync(dir);
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    const problem = trustProblem(st, opts.uid, { ownGroup: opts.gid });
    if (problem) {
      skipped.push(stopsWalk ? `${dir} (${problem}) nor above it` : `${dir} (${problem})`);
      if (stopsWalk) walking = false;
      continue;
    }
    if (stopsWalk) upTo = dir;
    const found = await searchIn(dir, places, opts.uid, opts.gid);
    if (found) return found;
  }
  // Where it really looked: an upward walk that stopped at an untrusted folder says where it stopped.
  const [upward0, ...rest] = searchDirs(opts.cwd, opts.env);
  const cwd = resolve(opts.cwd);
  const up = !walking ? (upTo === null ? null : upTo === cwd ? cwd : `${cwd} and its parents up to ${upTo}`) : upward0!;
  const looked = [...(up === null ? [] : [up]), ...rest].join(', ');
  const notLooked = skipped.length > 0 ? `; did not look in ${skipped.join(', ')}, because a config there could have been planted by another user` : '';
  throw new ConfigError(
    `no Medic config found; looked in ${looked} for ${SEARCH_PLACES.join(', ')}${notLooked}`,
    opts.env.MEDIC_URL
      ? 'this host sends its beats to medic serve (MEDIC_URL is set) and has no config: run status, history and check where the config and the database are (a checker or the medic serve host), or pass --config <path>'
      : `\`medic init\` writes a starter medic.config.json${skipped.length > 0 ? ' (in a folder other users cannot write: it keeps the database beside it)' : ''}; or pass --config <path> or set MEDIC_CONFIG`,
  );
}

/** The first search place in `dir` that holds a config, read; null when none does. */
async function searchIn(dir: string, places: string[], uid: number, gid: number | undefined): Promise<FoundConfig | null> {
  for (const place of places) {
    const file = join(dir, place);
    let st: Stats;
    try {
      st = statSync(file);
    } catch {
      continue;
    }
    if (st.isDirectory()) continue;
    if (JS_EXTENSIONS.includes(extname(file))) {
      throw new ConfigError(
        `found ${place} in ${dir}: Medic does not run a config it found by searching`,
        `pass it with --config ${file} (or MEDIC_CONFIG) if you wrote it; otherwise remove it`,
      );
    }
    const raw = await readConfigFile(file, 'search', uid, gid);
    if (raw === NOT_HERE) continue;
    return { file, raw };
  }
  return null;
}

/** A package.json without a "medic" key: not a config, the search goes on. */
const NOT_HERE = Symbol('not a Medic config');

/**
 * For a reader of an explicit config outside findConfig (the quick `medic beat` path): throws the
 * same ConfigError findConfig would for a file another user could have written, or one too big.
 */
export function checkConfigFile(file: string, uid: number, gid?: number): void {
  checkFile(file, statSync(file), uid, gid);
}

/** Refuses a config file another user could have written (SPEC §8), or one too big to read. */
function checkFile(file: string, st: Stats, uid: number, gid: number | undefined): void {
  // Group write is fine only for the user's own primary group (user private groups make files
  // 0664): a group of other users could rewrite where pages and the key go.
  const problem = trustProblem(st, uid, { ownGroup: gid });
  if (problem) {
    const fix = st.uid !== uid && st.uid !== 0 ? `chown ${uid === 0 ? 'root' : uid} ${file}` : `chmod go-w ${file}`;
    throw new ConfigError(`refusing config ${file}: ${problem}, so someone else could change what Medic does`, `read it through; if it is what you meant: ${fix}`);
  }
  if (st.size > MAX_CONFIG_BYTES) throw new ConfigError(`config ${file} is ${st.size} bytes; the limit is ${MAX_CONFIG_BYTES}`);
}

/**
 * Reads and parses one config file; every failure is a ConfigError naming the file. A JSON or YAML
 * file is opened once and checked and read through that descriptor (readTrustedFile); a JavaScript
 * file is imported by its real path, only once that path cannot be swapped by anyone else
 * (trustedJsPath).
 */
async function readConfigFile(file: string, how: 'explicit' | 'search', uid: number, gid: number | undefined): Promise<unknown> {
  const ext = extname(file);
  // Only a file the user named, and only once trusted: SPEC §8, never run what a search found.
  if (JS_EXTENSIONS.includes(ext)) {
    if (how !== 'explicit') throw new ConfigError(`refusing to run ${file}: it was not passed with --config`);
    return loadWith(trustedJsPath(file, uid, gid), ext, '');
  }
  const bytes = readTrustedFile(file, uid, gid);
  const text = decodeUtf8(file, bytes);
  if (text.trim() === '') throw new ConfigError(`config ${file} is empty`, '`medic init --force` writes a starter config there; or remove the file');
  if (basename(file) === 'package.json') {
    const pkg = parseJson(file, text);
    const medic = pkg !== null && typeof pkg === 'object' && Object.hasOwn(pkg, MODULE) ? (pkg as Record<string, unknown>)[MODULE] : undefined;
    if (medic !== undefined) return medic;
    if (how === 'search') return NOT_HERE;
    throw new ConfigError(`${file} has no "${MODULE}" key`, `put the config under "${MODULE}" in package.json, or pass a medic.config.json`);
  }
  if (ext === '.json') return parseJson(file, text);
  if (ext === '' || ext === '.yaml' || ext === '.yml' || basename(file) === '.medicrc') return loadWith(file, '.yaml', text);
  throw new ConfigError(`config ${file}: Medic reads .json, .yaml, .yml and .js/.mjs/.cjs configs, not ${ext}`, 'rename the file or convert it to JSON');
}

/**
 * The bytes of config `file`, checked and read through one descriptor, so what is read is what was
 * checked (SPEC §8): each link on the way must be the user's or root's (checkLinks), the file is
 * opened without blocking (a FIFO, a device), then the descriptor's own stat must be a regular file
 * the trust rules accept, and at most its size (and `maxBytes`) is read: a /proc file (size 0)
 * reads as empty. Nothing of a refused file is read. Also the quick beat path's reader
 * (commands/beat.ts), so both refuse the same files.
 */
export function readTrustedFile(file: string, uid: number, gid: number | undefined, maxBytes = MAX_CONFIG_BYTES): Buffer {
  checkLinks(file, uid);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? `config file ${file} not found` : `cannot read config ${file}: ${code ?? (err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ConfigError(`config ${file} is a folder, not a file`, 'pass the path of the config file itself');
    if (!st.isFile()) throw new ConfigError(`refusing config ${file}: it is not a regular file (a pipe, a device or a socket)`, 'pass the path of the config file itself');
    checkFile(file, st, uid, gid);
    // The links again, now that the file is open: they must still lead to the file that was opened
    // (a link swapped in after the first look, for one that was not there, is caught here).
    const now = checkLinks(file, uid);
    if (now === null || now.dev !== st.dev || now.ino !== st.ino) throw new ConfigError(`refusing config ${file}: it changed while Medic was reading it`, 'run the command again; if this repeats, someone is changing the file or a link to it');
    if (st.size > maxBytes) throw new ConfigError(`config ${file} is ${st.size} bytes; the limit is ${maxBytes}`);
    const bytes = Buffer.alloc(st.size);
    let n = 0;
    while (n < st.size) {
      const read = readSync(fd, bytes, n, st.size - n, null);
      if (read === 0) break;
      n += read;
    }
    return bytes.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Follows `file` the way the kernel will, component by component, and refuses a link owned by
 * anyone but the user or root (as protected_symlinks does in sticky folders): such a link lets its
 * owner choose, and change at any moment, the file Medic reads (a root-owned file that passes the
 * trust rules, /proc/kmsg, a FIFO). Returns the stat (lstat) of the file the path leads to, or null
 * when it leads nowhere (the open that follows says so). `what` names the file in the message
 * (`passwordFile /etc/medic/pw`); key and password files follow the same rule.
 */
export function checkLinks(file: string, uid: number, what = `config ${file}`): Stats | null {
  let todo = file.split('/').filter(Boolean);
  let at = '/';
  for (let hops = 0; ; ) {
    const name = todo.shift();
    if (name === undefined) return lstatOrNull(at);
    if (name === '.') continue;
    if (name === '..') {
      at = dirname(at);
      continue;
    }
    const next = join(at, name);
    const st = lstatOrNull(next);
    if (st === null) return null;
    if (!st.isSymbolicLink()) {
      at = next;
      continue;
    }
    if (st.uid !== uid && st.uid !== 0) {
      throw new ConfigError(
        `refusing ${what}: it is reached through the link ${next}, owned by uid ${st.uid}, neither the user running medic (uid ${uid}) nor root, so someone else could choose the file Medic reads`,
        `pass the path of the file itself, or have the user running medic own the link (chown -h)`,
      );
    }
    if (++hops > 40) return null; // a loop: the open fails with ELOOP
    const target = readlinkSync(next);
    if (target.startsWith('/')) at = '/';
    todo = [...target.split('/').filter(Boolean), ...todo];
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/**
 * The real path of an explicit JavaScript config, once nobody but the user or root could swap what
 * is imported from it: the links on the way are theirs (checkLinks), the real file passes the
 * trust rules, and so does its folder (owned by the user or root, not writable by others), since
 * whoever can write the folder could replace the file between this check and the import.
 */
function trustedJsPath(file: string, uid: number, gid: number | undefined): string {
  checkLinks(file, uid);
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    throw new ConfigError(`config file ${file} not found`, 'check the --config path or MEDIC_CONFIG; `medic init` writes a starter config');
  }
  const st = lstatSync(real);
  if (!st.isFile()) throw new ConfigError(`refusing config ${file}: it is not a regular file (a pipe, a device or a socket)`, 'pass the path of the config file itself');
  checkFile(file, st, uid, gid);
  // The folder, and every folder above it: one another user can write could rename the whole branch
  // away and put hers in its place between this check and the import (folderTrustProblem's rule).
  const folder = dirname(real);
  const unsafe = folderTrustProblem(folder, uid, gid);
  if (unsafe?.folder === folder) {
    throw new ConfigError(
      `refusing to run config ${file}: its folder ${folder} is not safe (${unsafe.problem}), so someone else could replace the file before Medic runs it`,
      `move the config into a folder only you (or root) can write, or: chmod go-w ${folder}`,
    );
  }
  if (unsafe) {
    throw new ConfigError(
      `refusing to run config ${file}: the folder ${unsafe.folder} above it is not safe (${unsafe.problem}), so someone else could swap the folders below it before Medic runs the file`,
      'move the config into a folder whose every parent only you (or root) can write, or use a JSON or YAML config',
    );
  }
  return real;
}

/** YAML and (explicit) JavaScript configs through cosmiconfig's loaders; their errors redacted, YAML's at line:column. */
async function loadWith(file: string, ext: string, text: string): Promise<unknown> {
  const { defaultLoaders } = await import('cosmiconfig');
  const loader = defaultLoaders[ext as keyof typeof defaultLoaders];
  try {
    return await loader(file, text);
  } catch (err) {
    // js-yaml's message quotes the lines around the error, cut where it likes: a key cut in half
    // would not be recognised. So the quoted line is Medic's own, redacted whole.
    const yaml = err as { reason?: unknown; mark?: { line?: unknown; column?: unknown } };
    if (typeof yaml.reason === 'string' && typeof yaml.mark?.line === 'number' && typeof yaml.mark.column === 'number') {
      const lines = text.split('\n');
      const at = lines.slice(0, yaml.mark.line).reduce((n, l) => n + l.length + 1, 0) + yaml.mark.column;
      throw syntaxError(file, 'YAML', redactSecrets(yaml.reason, [], { keyShaped: true }), text, Math.min(at, text.length), 'fix the indentation or syntax at that spot');
    }
    const message = redactSecrets(oneLine((err as Error)?.message ?? String(err)), [], { keyShaped: true });
    throw new ConfigError(`cannot read config ${file}: ${message}`);
  }
}

function decodeUtf8(file: string, bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(`config ${file} is not valid UTF-8 text`, 'save the file as UTF-8');
  }
}

/**
 * JSON.parse, with a syntax error reported at its line and column, the offending line quoted and a
 * caret under the spot (V8 gives a byte position at best, or a snippet that could hold a key).
 */
export function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const what = (err as Error).message
      .replace(/ in JSON at position \d+.*$/s, '')
      .replace(/^Unexpected token '(.+?)', .*$/s, 'unexpected character "$1"');
    throw syntaxError(file, 'JSON', what, text, jsonErrorAt(text), 'fix the syntax at that spot (JSON has no comments, no trailing commas, and quotes keys with ")');
  }
}

/**
 * `config <file> is not valid JSON: <what> at line 3, column 5:` with the offending line quoted and a
 * caret under the spot. The quoted line passes through redactSecrets: it may hold a routing key.
 */
function syntaxError(file: string, format: string, what: string, text: string, at: number, hint: string): ConfigError {
  const { line, column, text: lineText } = lineAt(text, at);
  const clean = (t: string) => redactSecrets(t.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' '), [], { keyShaped: true });
  // Redacted whole before it is cut: a key cut in half would no longer look like one.
  const shown = clean(lineText);
  const caretAt = Math.min(clean(lineText.slice(0, column - 1)).length, shown.length);
  const start = Math.max(0, caretAt - 60);
  return new ConfigError(
    `config ${file} is not valid ${format}: ${what} at line ${line}, column ${column}:\n    ${shown.slice(start, start + 120)}\n    ${' '.repeat(caretAt - start)}^`,
    hint,
  );
}

/** 1-based line and column of offset `at`, and that line's text. */
function lineAt(text: string, at: number): { line: number; column: number; text: string } {
  const before = text.slice(0, at);
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineEnd = text.indexOf('\n', at);
  const line = before.split('\n').length;
  return { line, column: at - lineStart + 1, text: text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd).replace(/\r$/, '') };
}

const JSON_SCALAR = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null/y;
const JSON_STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/**
 * The offset of the first character that makes `text` invalid JSON (text.length for a text that
 * ends too early); -1 when it is valid. Iterative, so a deeply nested file cannot overflow the stack.
 */
export function jsonErrorAt(text: string): number {
  const closers: string[] = [];
  let i = 0;
  let expect: 'value' | 'value-or-close' | 'key' | 'key-or-close' | 'after' = 'value';
  const token = (re: RegExp): boolean => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (m) i += m[0].length;
    return m !== null;
  };
  for (;;) {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
    if (i >= text.length) return expect === 'after' && closers.length === 0 ? -1 : i;
    const c = text[i]!;
    if ((expect === 'value-or-close' && c === ']') || (expect === 'key-or-close' && c === '}')) {
      closers.pop();
      i++;
      expect = 'after';
    } else if (expect === 'value' || expect === 'value-or-close') {
      if (c === '{' || c === '[') {
        closers.push(c === '{' ? '}' : ']');
        i++;
        expect = c === '{' ? 'key-or-close' : 'value-or-close';
      } else if (token(JSON_SCALAR)) expect = 'after';
      else return i;
    } else if (expect === 'key' || expect === 'key-or-close') {
      if (!token(JSON_STRING)) return i;
      while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
      if (text[i] !== ':') return i;
      i++;
      expect = 'value';
    } else {
      const top = closers.at(-1);
      if (top === undefined) return i; // something after the document
      if (c === ',') expect = top === '}' ? 'key' : 'value';
      else if (c === top) closers.pop();
      else return i;
      i++;
    }
  }
}

function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ')
    .slice(0, 300);
}

function homeOf(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

function xdgDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CONFIG_HOME || join(homeOf(env), '.config'), MODULE);
}
