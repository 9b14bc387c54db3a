// The batch document: the JWS payload a programme manager signs. Parsing is pure and reports
// every problem with its row, field and stable code, so one round trip fixes a whole file.
import { parsePhoneNumberFromString } from 'libphonenumber-js/mobile';
import { z } from 'zod';
import { isCurrencyCode, scaleOf, type CurrencyCode } from './currency.js';
import { rowErrorCodes, type RowError, type RowErrorCode } from './errors.js';
import { minorUnitsMax, parseAmount } from './money.js';
import { isProviderId, paysIn, providerRules, servesCountry, type ProviderId, type ProviderRoutes, type ProviderRules } from './providers.js';
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
  /** The payout this row pays again: one with an open re-pay request of the programme (a reconciliation `repay`). */
  repays: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/).optional(),
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
  /** The reversed payout this row pays again (its re-pay request is fulfilled by this row's payout), or null. */
  readonly repays: string | null;
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

/**
 * A row error as the API and `tuma batch build` show it: the row numbered from 1 (the first payout
 * is row 1; null for a problem of the document itself), its field, its stable code and a sentence.
 */
export interface RowProblem {
  readonly row: number | null;
  readonly field: string;
  readonly code: RowErrorCode;
  readonly message: string;
}

/** What each field of a payout row is, for a problem of its shape (FIELD_MISSING, FIELD_INVALID). */
const fieldRules: Readonly<Record<string, string>> = {
  ref: `A ref is 1 to ${batchFieldLimits.refMax} printable ASCII characters without spaces.`,
  msisdn: "An msisdn is the beneficiary's mobile number in international E.164 form with its +, like +254712345678.",
  provider: 'A provider is the id of the provider who pays, like mpesa.',
  name: `A name is 1 to ${batchFieldLimits.nameMax} characters.`,
  note: `A note is at most ${batchFieldLimits.noteMax} characters.`,
  repays: 'A repays is the id of a payout the programme pays again (a re-pay request), a UUID in lower case.',
  '(row)': 'A payout is an object with ref, msisdn, amount and provider, and optionally name, note and repays.',
};

/** The sentence of a row error: what is wrong, in words, the same on the server and in the command line. Never a value of the row. */
export function rowErrorSentence(e: RowError): string {
  const rule = e.row === null ? undefined : fieldRules[e.field];
  if (rule && e.code === 'FIELD_MISSING') return `The payout has no ${e.field}. ${rule}`;
  if (rule && e.code === 'FIELD_INVALID') return `The ${e.field === '(row)' ? 'payout' : e.field} has the wrong type or format. ${rule}`;
  return rowErrorCodes[e.code];
}

/** A row error (row a 0-based index into payouts) as it is shown: numbered from 1, with its sentence. */
export function rowProblemOf(e: RowError): RowProblem {
  return { row: e.row === null ? null : e.row + 1, field: e.field, code: e.code, message: rowErrorSentence(e) };
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (!value || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/**
 * Zod's issues as row errors. `row` given: the issues are of that payout alone (`input` is the
 * payout, paths are within it); otherwise of the whole document.
 */
function zodErrors(issues: readonly z.core.$ZodIssue[], input: unknown, row?: number): RowError[] {
  const errors = issues.map((issue): RowError => {
    const path = row === undefined ? issue.path.map(String) : ['payouts', String(row), ...issue.path.map(String)];
    const at = path[0] === 'payouts' && path[1] !== undefined ? Number(path[1]) : null;
    const field = at === null ? path.join('.') || '(document)' : path.slice(2).join('.') || '(row)';
    if (issue.code === 'unrecognized_keys') {
      // Name the unknown member itself, not its parent object.
      // The name is the sender's: stored with the refusal (jsonb takes no NUL, no lone surrogate), so control characters are shown as U+FFFD and it is cut at 64.
      const member = (issue.keys[0] ?? '').replace(/\p{Cc}|[\uD800-\uDFFF]/gu, '\uFFFD').slice(0, 64);
      return { row: at, field: field === '(document)' || field === '(row)' ? member : `${field}.${member}`, code: 'FIELD_UNKNOWN' as RowErrorCode };
    }
    const code: RowErrorCode = issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined ? 'FIELD_MISSING' : 'FIELD_INVALID';
    return { row: at, field, code };
  });
  // One problem once: an empty ref is both too short and not of its characters, but one FIELD_INVALID.
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.row}|${e.field}|${e.code}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const headerSchema = documentSchema.pick({ batchId: true, organisationId: true, programmeId: true, currency: true, createdAt: true, expiresAt: true });

export interface BatchHeader {
  readonly batchId: string;
  readonly organisationId: string;
  readonly programmeId: string;
  readonly currency: CurrencyCode;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

/**
 * The document's identity and dates alone, cheap to read before any per-row work: enough to find
 * the programme (and its policy), to answer a replay, and to refuse an expired batch.
 */
export function readBatchHeader(input: unknown): Result<BatchHeader, RowError[]> {
  const parsed = headerSchema.safeParse(input && typeof input === 'object' && !Array.isArray(input) ? pickHeader(input as Record<string, unknown>) : input);
  if (!parsed.success) return err(zodErrors(parsed.error.issues, input));
  const h = parsed.data;
  if (!isCurrencyCode(h.currency)) return err([{ row: null, field: 'currency', code: 'CURRENCY_UNKNOWN' }]);
  const createdAt = new Date(h.createdAt);
  const expiresAt = new Date(h.expiresAt);
  if (expiresAt.getTime() <= createdAt.getTime()) return err([{ row: null, field: 'expiresAt', code: 'DATES_INVALID' }]);
  return ok({ batchId: h.batchId.toLowerCase(), organisationId: h.organisationId, programmeId: h.programmeId, currency: h.currency, createdAt, expiresAt });
}

function pickHeader(o: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const k of ['batchId', 'organisationId', 'programmeId', 'currency', 'createdAt', 'expiresAt']) if (Object.hasOwn(o, k)) picked[k] = o[k];
  return picked;
}

/** What a programme's policy says about rows. */
export interface RowPolicy {
  readonly providers: readonly ProviderId[];
  /**
   * The programme's provider accounts for the batch currency: a row must go to a country one of
   * them serves, within that account's limits. Absent: the providers' own rules only.
   */
  readonly routes?: ProviderRoutes;
  readonly payoutMaxMinor: bigint | null;
  readonly rowErrors: 'reject_batch' | 'accept_valid_rows';
}

export interface ValidatedBatch {
  /** The batch to store: under 'accept_valid_rows', only its valid rows (total and count are theirs). */
  readonly document: BatchDocument;
  /** The rows left out and why; empty under 'reject_batch' (any bad row rejects the batch). */
  readonly rejectedRows: readonly RowError[];
}

/**
 * Parses the signed payload (already JSON-decoded; the caller bounds its size) into a validated
 * batch, or every problem found. Document-level problems (declared totals, dates, structure)
 * always reject the whole batch; row problems do too unless the policy accepts the valid rows.
 */
export function parseBatchDocument(input: unknown, policy: RowPolicy): Result<ValidatedBatch, RowError[]> {
  const started = startBatchValidation(input, policy);
  if (!started.ok) return started;
  const validation = started.value;
  const rows = validation.rows(0, validation.rowCount);
  const finished = validation.finish();
  if (!finished.ok) return finished;
  return ok({ document: { ...validation.header, totalMinor: finished.value.totalMinor, payouts: rows }, rejectedRows: finished.value.rejectedRows });
}

/** A batch being validated row range by row range, so that storing the first rows can overlap validating the next. */
export interface BatchValidation {
  readonly header: BatchHeader;
  /** Rows in the document, valid or not. */
  readonly rowCount: number;
  /**
   * Validates rows [start, end) (each row once, in order) and returns those that are valid so far.
   * A row is final when returned: a later duplicate flags the later row, never an earlier one.
   */
  rows(start: number, end: number): PayoutRow[];
  /** True once the batch is sure to be refused whatever follows (a bad row under 'reject_batch'). */
  readonly refused: boolean;
  /** After every row: the valid rows' total and the rows left out, or every problem. */
  finish(): Result<{ readonly totalMinor: bigint; readonly payoutCount: number; readonly rejectedRows: readonly RowError[] }, RowError[]>;
}

const envelopeSchema = documentSchema.extend({ payouts: z.array(z.unknown()).min(1) });

/**
 * Checks the document's envelope (everything but the rows' contents) and starts validating its
 * rows. A structurally broken envelope, or rows that are not all objects, end it here with every
 * structural problem, as a whole-document parse would report them.
 */
export function startBatchValidation(input: unknown, policy: RowPolicy): Result<BatchValidation, RowError[]> {
  const envelope = envelopeSchema.safeParse(input);
  if (!envelope.success) {
    const structural = zodErrors(envelope.error.issues, input);
    const payouts = input && typeof input === 'object' ? (input as { payouts?: unknown }).payouts : undefined;
    if (Array.isArray(payouts)) payouts.forEach((p, row) => structural.push(...rowStructureErrors(p, row)));
    return err(structural);
  }
  if (!isSalvageable(input)) {
    const payouts = envelope.data.payouts;
    return err(payouts.flatMap((p, row) => rowStructureErrors(p, row)));
  }
  const header = readBatchHeader(input);
  if (!header.ok) return header;
  const doc = envelope.data;
  const { currency } = header.value;

  // The document's own problems are known before any row is validated: a batch whose declared
  // count or control total is wrong is refused before anything is stored.
  const amounts = doc.payouts.map((raw) => parseAmount((raw as { amount?: unknown }).amount, currency));
  const documentErrors: RowError[] = [];
  if (doc.declared.count !== doc.payouts.length) documentErrors.push({ row: null, field: 'declared.count', code: 'DECLARED_COUNT_MISMATCH' });
  const declaredTotal = parseAmount(doc.declared.total, currency);
  if (!declaredTotal.ok) documentErrors.push({ row: null, field: 'declared.total', code: declaredTotal.error });
  // The maker's control total covers every row signed, valid or not, whenever every amount reads.
  if (declaredTotal.ok && amounts.every((a) => a.ok)) {
    const declaredSum = amounts.reduce((sum, a) => sum + (a.ok ? a.value : 0n), 0n);
    if (declaredTotal.value !== declaredSum) documentErrors.push({ row: null, field: 'declared.total', code: declaredSum > minorUnitsMax ? 'AMOUNT_RANGE' : 'DECLARED_TOTAL_MISMATCH' });
  }

  // Structural problems (schema) come before the rules' problems, as a whole-document parse lists them.
  const structural: RowError[] = [];
  const semantic: RowError[] = [];
  const checker = payoutRowChecker(currency, policy);
  let validTotal = 0n;
  let validCount = 0;
  let next = 0;

  const validation: BatchValidation = {
    header: header.value,
    rowCount: doc.payouts.length,
    get refused() {
      return documentErrors.length > 0 || (policy.rowErrors === 'reject_batch' && structural.length + semantic.length > 0);
    },
    rows(start, end) {
      if (start !== next || end < start || end > doc.payouts.length) throw new Error('invariant violated: rows are validated once each, in order');
      next = end;
      const valid: PayoutRow[] = [];
      for (let row = start; row < end; row++) {
        const checked = checker.check(doc.payouts[row], row, amounts[row]);
        structural.push(...checked.structural);
        semantic.push(...checked.semantic);
        if (checked.payout) {
          valid.push(checked.payout);
          validTotal += checked.payout.amountMinor;
          validCount++;
        }
      }
      return valid;
    },
    finish() {
      if (next !== doc.payouts.length) throw new Error('invariant violated: every row is validated before the batch is finished');
      const errors = [...structural, ...semantic];
      const totalErrors: RowError[] = validTotal > minorUnitsMax ? [{ row: null, field: 'declared.total', code: 'AMOUNT_RANGE' }] : [];
      if (documentErrors.length + totalErrors.length > 0) return err([...documentErrors, ...totalErrors, ...errors]);
      if (errors.length > 0 && (policy.rowErrors === 'reject_batch' || validCount === 0)) return err(errors);
      return ok({ totalMinor: validTotal, payoutCount: validCount, rejectedRows: errors });
    },
  };
  return ok(validation);
}

/** A row's schema problems, named with its row number. */
function rowStructureErrors(p: unknown, row: number): RowError[] {
  const shaped = payoutSchema.safeParse(p);
  return shaped.success ? [] : zodErrors(shaped.error.issues, p, row);
}

/** What checking one payout row found: its schema problems, its rules' problems, and the row itself when it has none. */
export interface CheckedRow {
  readonly payout: PayoutRow | null;
  /** Problems of shape (a member missing, unknown, of the wrong type or length). */
  readonly structural: readonly RowError[];
  /** Problems the rules find in a well-shaped row (amount, provider, number, duplicates). */
  readonly semantic: readonly RowError[];
}

/**
 * The rules a payout row is checked by: the row's shape, its amount in the batch currency, its
 * provider (known, enabled by the programme, paying in the currency, with an account), its number
 * (a mobile number of a country the provider's accounts serve), the provider's amount scale and
 * limits, the programme's payoutMax, and duplicates (a ref twice; the same number paid the same
 * amount twice). One checker per batch, fed every row once, in order: the server's batch intake
 * (startBatchValidation) and `tuma batch build` (src/cli/batch-cli.ts) both check rows with it,
 * so a CSV the command line accepts is one the server accepts, refused rows with the same codes.
 */
export interface PayoutRowChecker {
  /** Checks payout `row` (0-based); `amount`, when given, is parseAmount of its amount (already computed by the caller). */
  check(raw: unknown, row: number, amount?: ReturnType<typeof parseAmount>): CheckedRow;
}

export function payoutRowChecker(currency: CurrencyCode, policy: RowPolicy): PayoutRowChecker {
  const refs = new Set<string>();
  const beneficiaries = new Set<string>();
  const repaid = new Set<string>();
  return {
    check(raw, row, amount) {
      const shaped = payoutSchema.safeParse(raw);
      if (!shaped.success) return { payout: null, structural: zodErrors(shaped.error.issues, raw, row), semantic: [] };
      const p = shaped.data;
      const semantic: RowError[] = [];
      const parsedRow = parseRow(p, row, currency, amount ?? parseAmount(p.amount, currency), policy, semantic);
      if (refs.has(p.ref)) semantic.push({ row, field: 'ref', code: 'REF_DUPLICATE' });
      refs.add(p.ref);
      if (p.repays !== undefined) {
        if (repaid.has(p.repays)) semantic.push({ row, field: 'repays', code: 'REPAY_DUPLICATE' });
        repaid.add(p.repays);
      }
      if (parsedRow) {
        // The same phone number paid the same amount twice in one batch is the classic double payment.
        const beneficiary = `${parsedRow.msisdn}|${parsedRow.amountMinor}`;
        if (beneficiaries.has(beneficiary)) semantic.push({ row, field: 'msisdn', code: 'BENEFICIARY_DUPLICATE' });
        beneficiaries.add(beneficiary);
      }
      return { payout: parsedRow && semantic.length === 0 ? parsedRow : null, structural: [], semantic };
    },
  };
}

/** A document whose only problems are inside rows: the envelope is right and payouts is a list of objects. */
function isSalvageable(input: unknown): boolean {
  if (!input || typeof input !== 'object' || Array.isArray(input)) return false;
  const payouts = (input as { payouts?: unknown }).payouts;
  return Array.isArray(payouts) && payouts.every((p) => p !== null && typeof p === 'object' && !Array.isArray(p));
}

function parseRow(
  p: z.infer<typeof payoutSchema>,
  row: number,
  currency: CurrencyCode,
  amount: ReturnType<typeof parseAmount>,
  policy: RowPolicy,
  errors: RowError[],
): PayoutRow | null {
  const before = errors.length;
  if (!amount.ok) errors.push({ row, field: 'amount', code: amount.error });
  if (!isProviderId(p.provider)) {
    errors.push({ row, field: 'provider', code: 'PROVIDER_UNKNOWN' });
    return null;
  }
  if (!policy.providers.includes(p.provider)) errors.push({ row, field: 'provider', code: 'PROVIDER_NOT_ENABLED' });
  const rules: ProviderRules = providerRules[p.provider];
  const route = policy.routes ? policy.routes.get(p.provider) : undefined;
  if (!paysIn(rules, currency)) errors.push({ row, field: 'provider', code: 'PROVIDER_CURRENCY' });
  else if (policy.routes && !route) errors.push({ row, field: 'provider', code: 'PROVIDER_NOT_CONFIGURED' });
  // Mobile metadata: a mobile-money payout goes to a mobile number, so a valid landline is refused too.
  const phone = /^\+[1-9][0-9]{6,14}$/.test(p.msisdn) ? parsePhoneNumberFromString(p.msisdn) : undefined;
  const country = phone?.isValid() ? phone.country : undefined;
  const account = route && country ? route.get(country) : undefined;
  if (!phone || !phone.isValid()) errors.push({ row, field: 'msisdn', code: 'MSISDN_INVALID' });
  else if (!country || !servesCountry(rules, country) || (route && !account)) errors.push({ row, field: 'msisdn', code: 'MSISDN_COUNTRY' });
  if (amount.ok) {
    const limits = (rules.amountLimits as ProviderRules['amountLimits'])[currency];
    const max = minOf(policy.payoutMaxMinor, limits?.maxMinor ?? null, account?.maxMinor ?? null);
    const min = maxOf(limits?.minMinor ?? null, account?.minMinor ?? null);
    if (rules.wholeUnitsOnly && amount.value % 10n ** BigInt(scaleOf(currency)) !== 0n) errors.push({ row, field: 'amount', code: 'AMOUNT_PROVIDER_SCALE' });
    else if (max !== null && amount.value > max) errors.push({ row, field: 'amount', code: 'AMOUNT_ABOVE_MAXIMUM' });
    else if (min !== null && amount.value < min) errors.push({ row, field: 'amount', code: 'AMOUNT_BELOW_MINIMUM' });
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
    repays: p.repays ?? null,
  };
}

function minOf(...values: (bigint | null)[]): bigint | null {
  let m: bigint | null = null;
  for (const v of values) if (v !== null && (m === null || v < m)) m = v;
  return m;
}

function maxOf(...values: (bigint | null)[]): bigint | null {
  let m: bigint | null = null;
  for (const v of values) if (v !== null && (m === null || v > m)) m = v;
  return m;
}
