// What every fuzz target shares: the error catalogue a refusal must come from, the check of one
// HTTP answer, the tally a report is made of, and the fast-check run (bounded in runs and in time)
// whose first counterexample becomes the report's failure. Used by test/integration/fuzz.test.ts
// (a few hundred runs) and by loadtest/fuzz.ts (`npm run fuzz`, 10,000 runs per target).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import fc from 'fast-check';
import { contractRecorder } from '../support/api.js';

interface Catalogue {
  readonly errors: Record<string, { readonly status: number }>;
  readonly rowErrors: Record<string, unknown>;
}

const catalogue = JSON.parse(readFileSync(join(process.cwd(), 'contracts', 'error-codes.json'), 'utf8')) as Catalogue;

/** Every documented API error code and the HTTP status it is answered with. */
export const documentedCodes: ReadonlyMap<string, number> = new Map(Object.entries(catalogue.errors).map(([code, e]) => [code, e.status]));
/** Every documented row-error code (BATCH_INVALID's `errors`). */
export const documentedRowCodes: ReadonlySet<string> = new Set(Object.keys(catalogue.rowErrors));

/** A failure's report is cut here (a counterexample of 40 rows is long). */
const failureCharsMax = 6_000;

/** What one run of one target found. */
export interface FuzzReport {
  readonly target: string;
  /** Runs asked for. */
  readonly requested: number;
  /** Runs made (fewer when the time limit stopped the run, or a failure did). */
  readonly runs: number;
  /** Inputs answered 2xx (or, for a pure target, accepted). */
  readonly accepted: number;
  /** Refusals by code (a pure target: by what it named). */
  readonly refusals: Readonly<Record<string, number>>;
  readonly seconds: number;
  /** Inputs that hit a defect already recorded as a skipped `// BUG:` test, by its name: counted, not failed. */
  readonly knownDefects: Readonly<Record<string, number>>;
  /** The first property failure, shrunk, with its seed and path; null when every run held. */
  readonly failure: string | null;
  /** Whether the time limit ended the run before `requested` runs. */
  readonly interrupted: boolean;
  readonly seed: number;
}

export interface FuzzOptions {
  /** Stop generating new inputs after this long (the runs made so far are reported). */
  readonly timeLimitMs?: number;
  readonly seed?: number;
  /** Print each failing input while shrinking (debugging). */
  readonly verbose?: boolean;
}

/** Counts answers while a target runs. */
export class Tally {
  runs = 0;
  accepted = 0;
  readonly refusals: Record<string, number> = {};
  readonly knownDefects: Record<string, number> = {};

  accept(): void {
    this.accepted += 1;
  }

  refuse(code: string): void {
    this.refusals[code] = (this.refusals[code] ?? 0) + 1;
  }

  known(defect: string): void {
    this.knownDefects[defect] = (this.knownDefects[defect] ?? 0) + 1;
  }
}

/** A property's failure: thrown from inside a run, so fast-check shrinks the input that caused it. */
export class PropertyViolation extends Error {
  override readonly name = 'PropertyViolation';
}

export function violated(problem: string): never {
  throw new PropertyViolation(problem);
}

export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly text?: string;
}

/**
 * The problem of one HTTP answer, or null: a 5xx; a refusal without a code, with a code outside
 * contracts/error-codes.json, or with another status than the catalogue's for it; BATCH_INVALID
 * row errors outside the row-error catalogue; a stack trace in the body.
 */
export function answerProblem(res: Answer): string | null {
  if (res.status >= 500) return `HTTP ${res.status} ${codeOf(res) ?? ''}`.trim();
  if (typeof res.text === 'string' && /\bat [^\n]*\.(?:ts|js):\d+/.test(res.text)) return `HTTP ${res.status}: the body carries a stack trace`;
  if (res.status < 400) return null;
  const code = codeOf(res);
  if (code === null) return `HTTP ${res.status} without an error code`;
  const status = documentedCodes.get(code);
  if (status === undefined) return `HTTP ${res.status} ${code}: not in contracts/error-codes.json`;
  if (status !== res.status) return `HTTP ${res.status} ${code}: the catalogue answers ${code} with ${status}`;
  if (code === 'BATCH_INVALID') {
    const errors = (res.body as { error?: { errors?: unknown } }).error?.errors;
    if (!Array.isArray(errors) || errors.length === 0) return 'BATCH_INVALID without its errors';
    for (const e of errors as { code?: unknown }[]) {
      if (typeof e?.code !== 'string' || !documentedRowCodes.has(e.code)) return `BATCH_INVALID with the row-error code ${JSON.stringify(e?.code)}`;
    }
  }
  return null;
}

export function codeOf(res: Answer): string | null {
  const code = (res.body as { error?: { code?: unknown } } | null | undefined)?.error?.code;
  return typeof code === 'string' ? code : null;
}

/**
 * `inner` behind a second contract recorder whose problems this target reads after each request
 * (the test API's own recorder only reports them when it closes): an answer outside
 * contracts/openapi.yaml fails the run that caused it, so that fast-check shrinks it.
 */
export function recorded(inner: express.Express): { app: express.Express; problems: string[] } {
  const problems: string[] = [];
  const app = express();
  app.use(contractRecorder(problems));
  app.use(inner);
  return { app, problems };
}

/** Sends `bytes` as they are, whatever the content type says (superagent would serialise a Buffer as JSON). */
export const asIs = (body: unknown): string => body as string;

/** Fails the run when the contract recorder saw a problem since `from`. */
export function checkContract(problems: string[], from: number): void {
  if (problems.length > from) violated(`answer outside contracts/openapi.yaml: ${problems.slice(from).join('; ')}`);
}

/** The seed of a run: FUZZ_SEED when set, else a fresh one (printed in every report). */
export function seedOf(options: FuzzOptions): number {
  if (options.seed !== undefined) return options.seed;
  const env = process.env.FUZZ_SEED;
  return env !== undefined && /^-?\d+$/.test(env) ? Number(env) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
}

/**
 * Runs `property` over `runs` inputs of `arbitrary` (at most `timeLimitMs`), and reports what
 * the tally counted and the first failure, shrunk.
 */
export async function runProperty<T>(
  target: string,
  runs: number,
  arbitrary: fc.Arbitrary<T>,
  property: (input: T) => Promise<void>,
  tally: Tally,
  options: FuzzOptions = {},
): Promise<FuzzReport> {
  const seed = seedOf(options);
  const started = process.hrtime.bigint();
  const details = await fc.check(
    fc.asyncProperty(arbitrary, async (input) => {
      tally.runs += 1;
      await property(input);
    }),
    {
      numRuns: runs,
      seed,
      verbose: options.verbose ? 2 : 0,
      ...(options.timeLimitMs !== undefined ? { plugins: [fc.interruptAfterTimeLimit(options.timeLimitMs)] } : {}),
    },
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const failure = details.failed
    ? `${String((details.errorInstance as Error | undefined)?.message ?? details.errorInstance)}\n${(await fc.asyncDefaultReportMessage(details)) ?? ''}`.trim().slice(0, failureCharsMax)
    : null;
  return {
    target,
    requested: runs,
    runs: Math.min(details.numRuns, runs),
    accepted: tally.accepted,
    refusals: { ...tally.refusals },
    seconds: Math.round(seconds * 10) / 10,
    knownDefects: { ...tally.knownDefects },
    failure,
    interrupted: details.interrupted,
    seed,
  };
}

/**
 * Runs a target's `work` and then its clean-up (the test API's close, which also reports answers
 * outside the contract): a clean-up that fails is the report's failure when the run had none.
 */
export async function withCleanup(work: () => Promise<FuzzReport>, cleanup: () => Promise<void>): Promise<FuzzReport> {
  let report: FuzzReport;
  try {
    report = await work();
  } catch (error) {
    await cleanup().catch(() => undefined);
    throw error;
  }
  try {
    await cleanup();
  } catch (error) {
    return { ...report, failure: report.failure ?? `clean-up: ${(error as Error).message}` };
  }
  return report;
}
