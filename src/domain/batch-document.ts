// The batch document: the JWS payload a programme manager signs. Parsing is pure and reports
// every problem with its row, field and stable code, so one round trip fixes a whole file.
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { z } from 'zod';
import { isCurrencyCode, scaleOf, type CurrencyCode } from './currency.js';
import type { RowError, RowErrorCode } from './errors.js';
import { parseAmount, sumMinor } from './money.js';
import { isProviderId, providerRules, type ProviderId } from './providers.js';
import { err, ok, type Result } from './result.js';

/** Lengths of free-text fields: bounded so a hostile document cannot bloat storage. */
export const batchFieldLimits = { refMax: 64, nameMax: 200, noteMax: 200, idMax: 64 } as const;

const id = z.string().regex(/^[A-Za-z0-9_.:-]+$/).max(batchFieldLimits.idMax);
const decimalString = z.unknown();

const payoutSchema = z.strictObject({
  ref: z.string().min(1).max(batchFieldLimits.refMax).regex(/^[\x21-\x7e]+$/),
  provider: z.string().min(1).max(32),
  msisdn: z.string().min(1).max(20),
  amount: decimalString,
  name: z.string().min(1).max(batchFieldLimits.nameMax).optional(),
  note: z.string().max(batchFieldLimits.noteMax).optional(),
});

const documentSchema = z.strictObject({
  batchId: z.uuid(),
  organisationId: id,
  programmeId: id,
  currency: z.string().regex(/^[A-Z]{3}$/),
  createdAt: z.iso.datetime({ offset: true }),
  expiresAt: z.iso.datetime({ offset: true }),
  declared: z.strictObject({ count: z.number().int().min(1), total: decimalString }),
  payouts: z.array(payoutSchema).min(1),
});

export interface PayoutRow {
  readonly row: number;
  readonly ref: string;
  readonly provider: ProviderId;
  /** E.164, normalised ("+254712345678"). Sensitive: encrypted before it is stored. */
  readonly msisdn: string;
  readonly amountMinor: bigint;
  readonly name: string | null;
  readonly note: string | null;
}

export interface BatchDocument {
  readonly batchId: string;
  readonly organisationId: string;
  readonly programmeId: string;
  readonly currency: CurrencyCode;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly totalMinor: bigint;
  readonly payouts: readonly PayoutRow[];
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (!value || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function zodErrors(issues: readonly z.core.$ZodIssue[], input: unknown): RowError[] {
  return issues.map((issue) => {
    const path = issue.path.map(String);
    const row = path[0] === 'payouts' && path[1] !== undefined ? Number(path[1]) : null;
    const field = row === null ? path.join('.') || '(document)' : path.slice(2).join('.') || '(row)';
    if (issue.code === 'unrecognized_keys') {
      // Name the unknown member itself, not its parent object.
      const member = issue.keys[0] ?? '';
      return { row, field: field === '(document)' || field === '(row)' ? member : `${field}.${member}`, code: 'FIELD_UNKNOWN' as RowErrorCode };
    }
    const code: RowErrorCode = issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined ? 'FIELD_MISSING' : 'FIELD_INVALID';
    return { row, field, code };
  });
}

/** Parses the signed payload (already JSON-decoded; the caller bounds its size) into a validated batch, or every problem found. */
export function parseBatchDocument(input: unknown): Result<BatchDocument, RowError[]> {
  const parsed = documentSchema.safeParse(input);
  if (!parsed.success) return err(zodErrors(parsed.error.issues, input));
  const doc = parsed.data;
  if (!isCurrencyCode(doc.currency)) return err([{ row: null, field: 'currency', code: 'CURRENCY_UNKNOWN' }]);
  const currency = doc.currency;
  const errors: RowError[] = [];
  const createdAt = new Date(doc.createdAt);
  const expiresAt = new Date(doc.expiresAt);
  if (expiresAt.getTime() <= createdAt.getTime()) errors.push({ row: null, field: 'expiresAt', code: 'DATES_INVALID' });

  const rows: PayoutRow[] = [];
  const refs = new Set<string>();
  doc.payouts.forEach((p, row) => {
    const parsedRow = parseRow(p, row, currency, errors);
    if (refs.has(p.ref)) errors.push({ row, field: 'ref', code: 'REF_DUPLICATE' });
    refs.add(p.ref);
    if (parsedRow) rows.push(parsedRow);
  });

  if (doc.declared.count !== doc.payouts.length) errors.push({ row: null, field: 'declared.count', code: 'DECLARED_COUNT_MISMATCH' });
  const declaredTotal = parseAmount(doc.declared.total, currency);
  if (!declaredTotal.ok) errors.push({ row: null, field: 'declared.total', code: declaredTotal.error });
  const total = sumMinor(rows.map((r) => r.amountMinor));
  if (!total.ok) errors.push({ row: null, field: 'declared.total', code: 'AMOUNT_RANGE' });
  if (declaredTotal.ok && total.ok && rows.length === doc.payouts.length && declaredTotal.value !== total.value) {
    errors.push({ row: null, field: 'declared.total', code: 'DECLARED_TOTAL_MISMATCH' });
  }
  if (errors.length > 0 || !total.ok) return err(errors);
  return ok({
    batchId: doc.batchId.toLowerCase(),
    organisationId: doc.organisationId,
    programmeId: doc.programmeId,
    currency,
    createdAt,
    expiresAt,
    totalMinor: total.value,
    payouts: rows,
  });
}

function parseRow(p: z.infer<typeof payoutSchema>, row: number, currency: CurrencyCode, errors: RowError[]): PayoutRow | null {
  const before = errors.length;
  const amount = parseAmount(p.amount, currency);
  if (!amount.ok) errors.push({ row, field: 'amount', code: amount.error });
  if (!isProviderId(p.provider)) {
    errors.push({ row, field: 'provider', code: 'PROVIDER_UNKNOWN' });
    return null;
  }
  const rules = providerRules[p.provider];
  if (!(rules.currencies as readonly string[]).includes(currency)) errors.push({ row, field: 'provider', code: 'PROVIDER_CURRENCY' });
  if (amount.ok && rules.wholeUnitsOnly && amount.value % 10n ** BigInt(scaleOf(currency)) !== 0n) {
    errors.push({ row, field: 'amount', code: 'AMOUNT_PROVIDER_SCALE' });
  }
  const phone = /^\+[1-9][0-9]{6,14}$/.test(p.msisdn) ? parsePhoneNumberFromString(p.msisdn) : undefined;
  if (!phone || !phone.isValid()) errors.push({ row, field: 'msisdn', code: 'MSISDN_INVALID' });
  else if (!phone.country || !(rules.countries as readonly string[]).includes(phone.country)) {
    errors.push({ row, field: 'msisdn', code: 'MSISDN_COUNTRY' });
  }
  if (errors.length > before || !amount.ok || !phone) return null;
  return {
    row,
    ref: p.ref,
    provider: p.provider,
    msisdn: phone.number,
    amountMinor: amount.value,
    name: p.name ?? null,
    note: p.note ?? null,
  };
}
