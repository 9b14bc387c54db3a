// What a simulator's (or a reader's) statement CSV must be for a mapping of
// src/domain/statement-formats.ts, checked line by line with the importer's own splitCsvLine and
// isColumnHeader: the column-header line, every line's cell count, the statuses, the kinds' patterns
// (SQL ILIKE), the amounts' grammar, the running balance. Used by the statement tests of
// test/contract.
import { columnOf, type KindRule, type StatementFormat } from '../../src/domain/statement-formats.js';
import { isColumnHeader, splitCsvLine } from '../../src/domain/reconciliation.js';

/** A statement split at its column-header line: the header block's cells and the lines' cells. */
export interface SplitStatement {
  readonly header: readonly (readonly string[])[];
  readonly columnHeader: string;
  readonly rows: readonly (readonly string[])[];
}

/** Splits `csv` (CRLF lines, a final line end) at the format's column-header line; throws when a line does not split. */
export function splitStatement(format: StatementFormat, csv: string): SplitStatement {
  expect(csv.endsWith('\r\n')).toBe(true);
  const lines = csv.slice(0, -2).split('\r\n');
  const at = lines.findIndex((l) => isColumnHeader(format, l));
  expect(at).toBeGreaterThanOrEqual(0);
  expect(at).toBeLessThan(format.headerLinesMax);
  const cells = (l: string) => {
    const split = splitCsvLine(l);
    if (split === null) throw new Error(`a line does not split: ${l}`);
    return split;
  };
  return { header: lines.slice(0, at).map(cells), columnHeader: lines[at]!, rows: lines.slice(at + 1).map(cells) };
}

/** SQL ILIKE: % any run, _ one character, case-insensitive, the whole text. */
export const ilike = (pattern: string, text: string): boolean =>
  new RegExp(`^${pattern.split('').map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('')}$`, 'is').test(text);

/** The kind a line is under `format`: charge, then reversal, then payout, else other (as the importer tries them). */
export function kindOf(format: StatementFormat, row: readonly string[]): 'charge' | 'reversal' | 'payout' | 'other' {
  const reason = columnOf(format, 'reasonType');
  const details = columnOf(format, 'details');
  const matches = (rule: KindRule) =>
    (reason >= 0 && rule.reasonType.some((p) => ilike(p, row[reason] ?? ''))) || (details >= 0 && rule.details.some((p) => ilike(p, row[details] ?? '')));
  for (const kind of ['charge', 'reversal', 'payout'] as const) if (matches(format.kinds[kind])) return kind;
  return 'other';
}

/** The grammar of the format's amounts for a currency of `scale` decimals; `signed`: a leading minus allowed. */
export function amountGrammar(format: StatementFormat, scale: number, signed: boolean): RegExp {
  const grouped = format.amounts.thousandsSeparator ? `|[1-9][0-9]{0,2}(,[0-9]{3}){1,4}` : '';
  const fraction = scale === 0 ? '' : format.amounts.fractionDigits === 'currency-scale' ? `\\.[0-9]{${scale}}` : `(\\.[0-9]{1,${scale}})?`;
  return new RegExp(`^${signed ? '-?' : ''}(0|[1-9][0-9]{0,14}${grouped})${fraction}$`);
}

/** An amount of the format's grammar in minor units of `scale` (separators dropped, the fraction padded). */
export function minorOf(text: string, scale: number): bigint {
  const [whole = '', fraction = ''] = text.replaceAll(',', '').split('.');
  const negative = whole.startsWith('-');
  const units = BigInt(whole.replace('-', '')) * 10n ** BigInt(scale) + BigInt(fraction.padEnd(scale, '0') || '0');
  return negative ? -units : units;
}

/**
 * Every line has the format's column count, a status it lists, amounts (and fees and balances)
 * of its grammar; the balance, where there is one, runs: each line's is the one before it plus
 * the line's movement minus its fee, when the line completed, and the same when it failed.
 * Returns the lines' movements (signed) in minor units.
 */
export function expectLinesOfFormat(format: StatementFormat, rows: readonly (readonly string[])[], scale: number): bigint[] {
  const col = (role: Parameters<typeof columnOf>[1]) => columnOf(format, role);
  const [status, amount, direction, fee, balance, paidIn, withdrawn] = [col('status'), col('amount'), col('direction'), col('fee'), col('balance'), col('paidIn'), col('withdrawn')];
  const signedAmounts = format.amounts.movement.kind !== 'direction';
  const grammar = amountGrammar(format, scale, signedAmounts);
  const unsigned = amountGrammar(format, scale, false);
  const balanceGrammar = amountGrammar(format, scale, true);
  const movements: bigint[] = [];
  let previous: bigint | null = null;
  for (const row of rows) {
    expect({ row, cells: row.length }).toEqual({ row, cells: format.columns.length });
    const s = row[status]!;
    expect([...format.statuses.completed, ...format.statuses.failed]).toContain(s);
    let movement: bigint;
    const movementOf = format.amounts.movement;
    if (movementOf.kind === 'direction') {
      expect(row[amount]).toMatch(grammar);
      expect([...movementOf.credit, ...movementOf.debit]).toContain(row[direction]);
      movement = (movementOf.credit.includes(row[direction]!) ? 1n : -1n) * minorOf(row[amount]!, scale);
    } else if (movementOf.kind === 'signed') {
      expect(row[amount]).toMatch(grammar);
      movement = minorOf(row[amount]!, scale);
    } else {
      movement = row[paidIn] ? minorOf(row[paidIn], scale) : -minorOf(row[withdrawn]!.replace(/^-/, ''), scale);
    }
    movements.push(movement);
    const charged = fee >= 0 && row[fee] !== '' ? (expect(row[fee]).toMatch(unsigned), minorOf(row[fee]!, scale)) : 0n;
    if (balance < 0 || row[balance] === '') continue;
    expect(row[balance]).toMatch(balanceGrammar);
    const after = minorOf(row[balance]!, scale);
    const completed = format.statuses.completed.includes(s);
    if (!completed) expect(charged).toBe(0n);
    if (previous !== null) expect({ row, after }).toEqual({ row, after: completed ? previous + movement - charged : previous });
    previous = after;
  }
  return movements;
}
