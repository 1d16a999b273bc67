/**
 * Every --json output escapes the characters JSON.stringify leaves raw that a terminal acts on (C1
 * controls, bidi controls, U+2028/9): a job's message shown by `history --json` and `status --json`
 * cannot reorder or rewrite what on-call sees, and scripts still read the exact text.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tempProject, type Project } from '../helpers/cli.js';

/** What a job printed: C1 CSI, NEL, a right-to-left override, an isolate, a line separator. */
const SAID = 'disk \u009b2J full\u0085 \u202egnp.exe\u202c \u2066x\u2069 end\u2028';
const RAW = /[\u0080-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

let project: Project | null = null;
afterEach(() => project?.remove());

describe('--json output', () => {
  it('history --json and status --json write them as \\u escapes, the same JSON value', async () => {
    project = tempProject({ database: 'medic.db', services: [{ slug: 'backup', interval: '1h' }] });
    expect((await project.run(['beat', 'backup', '--fail', '-m', SAID])).code).toBe(0);
    const history = await project.run(['history', 'backup', '--json']);
    expect(history.code).toBe(0);
    expect(history.stdout).not.toMatch(RAW);
    expect(history.stdout).toContain('\\u202egnp.exe\\u202c');
    expect(JSON.parse(history.stdout).events.find((e: any) => e.kind === 'signal').message).toBe(SAID);
    const status = await project.run(['status', '--json']);
    expect(status.code).toBe(0);
    expect(status.stdout).not.toMatch(RAW);
    expect(JSON.parse(status.stdout)[0].failure.message).toBe(SAID);
  }, 30_000);
});
