// What the provider simulators share: their shape, the bounds of their fault-injection control
// APIs, the validation of a fault rule's number pattern, and the statement format (numbers
// masked, CSV).
import type { Router } from 'express';
import { z } from 'zod';

/** A provider simulator: the provider's API, a control API for tests, and what it executed. */
export interface ProviderSimulator<Faults, StatementLine> {
  /** The provider's own paths. */
  readonly router: Router;
  /** PUT /faults, GET /executions/:key, GET /statement?format=json|csv. */
  readonly controlRouter: Router;
  setFaults(faults: Faults): void;
  statement(): StatementLine[];
  /** How many times the request sent under this idempotency key ran (0 or 1, if the provider is right). */
  executions(key: string): number;
  /** Resolves when no callback is waiting to be sent. */
  drained(): Promise<void>;
  close(): void;
}

/** Fault rules per simulator at most. */
export const faultRulesMax = 64;
/** A rule's pattern is a short regular expression over the payee number as the provider sees it. */
export const faultPatternMaxChars = 200;
/** How long an injected delay or held answer may be. */
export const faultDelayMaxMs = 120_000;
/** Statement lines returned at most. */
export const statementLinesMax = 100_000;

/** True when `source` compiles as a regular expression (for a zod refine on a rule's pattern). */
export function isRegExpSource(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** A phone number in a statement: all but its last three digits masked. */
export const maskNumber = (number: string): string => `${'*'.repeat(Math.max(0, number.length - 3))}${number.slice(-3)}`;

const csvField = (v: string) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/** A statement as CSV: the header, then one line per entry, fields quoted where needed. */
export function statementCsv<K extends string>(header: readonly K[], lines: readonly Readonly<Record<K, string>>[]): string {
  return [header.join(','), ...lines.map((l) => header.map((h) => csvField(l[h])).join(','))].join('\n') + '\n';
}

/** A rule's number pattern: a short regular expression that compiles. */
export const faultPatternSchema = z.string().min(1).max(faultPatternMaxChars).refine(isRegExpSource, 'must be a regular expression');
/** An injected delay, hold or latency, in milliseconds. */
export const faultDelaySchema = z.number().int().min(0).max(faultDelayMaxMs);

/** A simulator's faults: a latency added to every answer, and at most `faultRulesMax` rules of its own shape. */
export function faultsSchemaOf<Rule extends z.ZodType>(rule: Rule) {
  return z.strictObject({
    latencyMs: faultDelaySchema.default(0),
    rules: z.array(rule).max(faultRulesMax).default([]),
  });
}
