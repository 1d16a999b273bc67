// Types of the pure helpers of bench/pg.mjs that test/unit/bench-pg.test.ts checks (bench files are
// plain JavaScript; the rest of the module is only run by bench/run.mjs).
export interface StatementSummary {
  totalMs: number;
  statements: number;
  distinct: number;
  top: { sql: string; calls: number; ms: number; maxMs: number }[];
}
export function summarizeStatementLog(text: string): StatementSummary;

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}
export interface ProfileSummary {
  totalMs: number;
  areas: { where: string; ms: number }[];
  top: { fn: string; where: string; ms: number }[];
}
export function summarizeProfile(profile: CpuProfile): ProfileSummary;
