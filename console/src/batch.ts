// A payouts CSV → the batch document a maker signs, with every problem named by line and column
// before anything is signed. The CSV is read by the same parser as `tuma batch build` (csv-parse,
// same options), and the document is checked by the server's own rules: src/domain's
// parseBatchDocument, with the programme's policy and provider accounts read from the API.
import { parse as parseCsv } from 'csv-parse/sync';
import { parseBatchDocument, type RowPolicy } from '../../src/domain/batch-document.js';
import { isCurrencyCode, type CurrencyCode } from '../../src/domain/currency.js';
import type { RowErrorCode } from '../../src/domain/errors.js';
import { formatAmount, parseAmount, sumMinor } from '../../src/domain/money.js';
import { isProviderId, type AccountLimits, type ProviderId } from '../../src/domain/providers.js';
import type { PolicyView, ProviderAccountsView } from './api';
import type { MessageKey } from './i18n';

/** As `tuma batch build`: at most this many bytes and rows. */
export const csvBytesMax = 64 * 1024 * 1024;
export const csvRowsMax = 100_000;
/** As `tuma batch build --expires-in` by default: approvals must come within 72 hours. */
export const expiresInHours = 72;

/** As `tuma batch build` (src/cli/batch-cli.ts csvColumns): `repays` names a payout paid again (an open re-pay request). */
export const csvColumns = ['ref', 'msisdn', 'amount', 'provider', 'name', 'note', 'repays'] as const;
const requiredColumns = ['ref', 'msisdn', 'amount', 'provider'] as const;

export interface Problem {
  readonly line: number;
  readonly column: string;
  /** A CSV problem's message, or a row error's stable code. */
  readonly message: MessageKey;
  readonly vars?: Record<string, string | number>;
  readonly code?: RowErrorCode;
}

export interface ProgrammeRules {
  readonly programmeId: string;
  readonly currency: CurrencyCode;
  readonly policy: RowPolicy;
  readonly providers: readonly string[];
}

export interface BuiltBatch {
  readonly batchId: string;
  readonly bytes: Uint8Array;
  readonly count: number;
  readonly total: string;
  readonly currency: CurrencyCode;
  readonly byProvider: readonly { provider: string; count: number; amount: string }[];
  /** The first rows, for a preview: ref, provider, number (shown masked), amount and the payout it pays again. */
  readonly preview: readonly { ref: string; provider: string; msisdn: string; amount: string; repays: string | null }[];
  /** The rows that pay a payout again (a `repays` column value): the server checks each against its open re-pay request. */
  readonly repaying: number;
}

/** The programme's rules as the server applies them: its policy, and its provider accounts for the currency. */
export function programmeRules(programmeId: string, policy: PolicyView, accounts: ProviderAccountsView): ProgrammeRules | null {
  if (!isCurrencyCode(accounts.currency)) return null;
  const currency = accounts.currency;
  const payoutMax = policy.payoutMax === null ? null : parseAmount(policy.payoutMax, currency);
  let routes: Map<ProviderId, Map<string, AccountLimits>> | undefined;
  if (accounts.accounts) {
    routes = new Map();
    for (const a of accounts.accounts) {
      if (!isProviderId(a.provider)) continue;
      const min = a.payoutMin === null ? null : parseAmount(a.payoutMin, currency);
      const max = a.payoutMax === null ? null : parseAmount(a.payoutMax, currency);
      const byCountry = routes.get(a.provider) ?? new Map<string, AccountLimits>();
      byCountry.set(a.country, { minMinor: min?.ok ? min.value : null, maxMinor: max?.ok ? max.value : null });
      routes.set(a.provider, byCountry);
    }
  }
  return {
    programmeId,
    currency,
    providers: policy.providers,
    policy: {
      providers: policy.providers.filter(isProviderId),
      ...(routes ? { routes } : {}),
      payoutMaxMinor: payoutMax?.ok ? payoutMax.value : null,
      rowErrors: policy.rowErrors,
    },
  };
}

type Records = { record: string[]; info: { lines: number } }[];

export function buildFromCsv(
  file: Uint8Array,
  header: { organisationId: string; rules: ProgrammeRules; now: Date; batchId: string },
): { ok: true; batch: BuiltBatch } | { ok: false; problems: Problem[] } {
  const fail = (problems: Problem[]) => ({ ok: false as const, problems });
  if (file.byteLength > csvBytesMax) return fail([{ line: 1, column: '(file)', message: 'csv.tooLarge', vars: { max: '64 MiB' } }]);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(file);
  } catch {
    return fail([{ line: 1, column: '(file)', message: 'csv.notUtf8' }]);
  }
  let records: Records;
  try {
    records = parseCsv(text, { bom: true, info: true, relax_column_count: true, skip_empty_lines: true, trim: false, record_delimiter: ['\r\n', '\n'] }) as unknown as Records;
  } catch (error) {
    const e = error as { lines?: number; message: string };
    return fail([{ line: e.lines ?? 1, column: '(file)', message: 'csv.unreadable', vars: { reason: e.message.replace(/^Invalid Record Length: /, '') } }]);
  }
  const first = records[0];
  if (!first) return fail([{ line: 1, column: '(header)', message: 'csv.empty' }]);
  const problems: Problem[] = [];
  const columns = first.record.map((c) => c.trim().toLowerCase());
  columns.forEach((c, i) => {
    if (!(csvColumns as readonly string[]).includes(c)) problems.push({ line: first.info.lines, column: c || `(${i + 1})`, message: 'csv.unknownColumn', vars: { columns: csvColumns.join(', ') } });
    else if (columns.indexOf(c) !== i) problems.push({ line: first.info.lines, column: c, message: 'csv.twice' });
  });
  for (const c of requiredColumns) if (!columns.includes(c)) problems.push({ line: first.info.lines, column: c, message: 'csv.missingColumn' });
  if (problems.length > 0) return fail(problems);
  const rows = records.slice(1);
  if (rows.length === 0) return fail([{ line: first.info.lines, column: '(file)', message: 'csv.noRows' }]);
  if (rows.length > csvRowsMax) return fail([{ line: rows[csvRowsMax]!.info.lines, column: '(file)', message: 'csv.tooMany', vars: { max: csvRowsMax } }]);

  const { currency } = header.rules;
  const payouts: Record<string, string>[] = [];
  const lineOf: number[] = [];
  for (const { record, info } of rows) {
    if (record.length !== columns.length) {
      problems.push({ line: info.lines, column: '(row)', message: 'csv.fieldCount', vars: { count: record.length, header: columns.length } });
      continue;
    }
    const value = (c: string) => (columns.includes(c) ? record[columns.indexOf(c)]!.trim() : '');
    const amount = parseAmount(value('amount'), currency);
    // Amounts are written with the currency's full scale, as `tuma batch build` writes them.
    const payout: Record<string, string> = { ref: value('ref'), provider: value('provider'), msisdn: value('msisdn'), amount: amount.ok ? formatAmount(amount.value, currency) : value('amount') };
    if (value('name')) payout.name = value('name');
    if (value('note')) payout.note = value('note');
    // Checked by the server's rules below (a payout id: a UUID in lower case), as written: never rewritten here.
    if (value('repays')) payout.repays = value('repays');
    payouts.push(payout);
    lineOf.push(info.lines);
  }
  const amounts = payouts.map((p) => parseAmount(p.amount, currency)).filter((a) => a.ok).map((a) => a.value);
  const total = sumMinor(amounts);
  const document = {
    batchId: header.batchId,
    organisationId: header.organisationId,
    programmeId: header.rules.programmeId,
    currency,
    createdAt: header.now.toISOString(),
    expiresAt: new Date(header.now.getTime() + expiresInHours * 3_600_000).toISOString(),
    declared: { count: payouts.length, total: total.ok ? formatAmount(total.value, currency) : '0' },
    payouts,
  };
  if (payouts.length > 0) {
    const checked = parseBatchDocument(document, header.rules.policy);
    const rowErrors = checked.ok ? checked.value.rejectedRows : checked.error;
    for (const e of rowErrors) {
      const line = e.row === null ? first.info.lines : (lineOf[e.row] ?? first.info.lines);
      problems.push({ line, column: e.field, message: `row.${e.code}` as MessageKey, code: e.code });
    }
  }
  if (problems.length > 0 || !total.ok) {
    const order = (c: string) => (csvColumns as readonly string[]).indexOf(c);
    return fail(problems.sort((a, b) => a.line - b.line || order(a.column) - order(b.column)));
  }
  const byProvider = new Map<string, { count: number; minor: bigint }>();
  for (const p of payouts) {
    const entry = byProvider.get(p.provider!) ?? { count: 0, minor: 0n };
    const a = parseAmount(p.amount, currency);
    byProvider.set(p.provider!, { count: entry.count + 1, minor: entry.minor + (a.ok ? a.value : 0n) });
  }
  return {
    ok: true,
    batch: {
      batchId: header.batchId,
      bytes: new TextEncoder().encode(JSON.stringify(document)),
      count: payouts.length,
      total: document.declared.total,
      currency,
      byProvider: [...byProvider].map(([provider, v]) => ({ provider, count: v.count, amount: formatAmount(v.minor, currency) })),
      preview: payouts.slice(0, 5).map((p) => ({ ref: p.ref!, provider: p.provider!, msisdn: p.msisdn!, amount: p.amount!, repays: p.repays ?? null })),
      repaying: payouts.filter((p) => p.repays !== undefined).length,
    },
  };
}

/** A signed batch document as an approver receives it: its bytes, checked against the same rules. */
export function readBatchFile(bytes: Uint8Array, rules: ProgrammeRules | null): { ok: true; batchId: string; document: { programmeId: string; currency: string; payouts: { provider: string; msisdn: string; amount: string }[] }; duplicates: number[]; byProvider: { provider: string; count: number; amount: string }[] } | { ok: false } {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return { ok: false };
  }
  const d = doc as { batchId?: unknown; programmeId?: unknown; currency?: unknown; payouts?: unknown };
  if (typeof d.batchId !== 'string' || typeof d.programmeId !== 'string' || typeof d.currency !== 'string' || !isCurrencyCode(d.currency) || !Array.isArray(d.payouts)) return { ok: false };
  const currency = d.currency;
  const payouts = d.payouts as { provider: string; msisdn: string; amount: string }[];
  const duplicates: number[] = [];
  if (rules) {
    const checked = parseBatchDocument(doc, rules.policy);
    const errors = checked.ok ? checked.value.rejectedRows : checked.error;
    for (const e of errors) if (e.code === 'BENEFICIARY_DUPLICATE' && e.row !== null) duplicates.push(e.row + 1);
  }
  const byProvider = new Map<string, { count: number; minor: bigint }>();
  for (const p of payouts) {
    const a = parseAmount(p.amount, currency);
    const entry = byProvider.get(String(p.provider)) ?? { count: 0, minor: 0n };
    byProvider.set(String(p.provider), { count: entry.count + 1, minor: entry.minor + (a.ok ? a.value : 0n) });
  }
  return {
    ok: true,
    batchId: d.batchId.toLowerCase(),
    document: { programmeId: d.programmeId, currency, payouts },
    duplicates,
    byProvider: [...byProvider].map(([provider, v]) => ({ provider, count: v.count, amount: formatAmount(v.minor, currency) })),
  };
}

