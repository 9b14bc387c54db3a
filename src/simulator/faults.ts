// What the provider simulators share: the bounds of their fault-injection control APIs, the
// validation of a fault rule's number pattern, and the statement format (numbers masked, CSV).

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
