// The ledger as finance sees it: recording donor fundings, and reading balances, statements
// (with a running balance per line), journals and the trial balance. Every read is scoped to the
// caller's organisation: another organisation's account is "not found", never "forbidden".
import { z } from 'zod';
import { isCurrencyCode, type CurrencyCode } from '../domain/currency.js';
import { reject, type Rejection } from '../domain/errors.js';
import type { Totals } from '../domain/ledger.js';
import { namePattern, normalSideOf, postings, referencePattern, type NormalSide } from '../domain/ledger-rules.js';
import { formatAmount, parseAmount } from '../domain/money.js';
import { err, ok, type Result } from '../domain/result.js';
import type { AccountRecord, Actor, Persistence, TransferRecord } from './ports.js';
import { appendAudit } from './audit.js';

/** Lines per statement page, and accounts per listing page. */
export const statementPageMax = 1_000;
export const accountsPageMax = 1_000;
/** Transfers in one journal view (a journal is a handful of transfers; settlement chunks stay below this). */
export const journalViewMax = 10_000;

export const idempotencyKeyPattern = /^[A-Za-z0-9._:-]{1,128}$/;

export interface AccountView {
  readonly currency: string;
  readonly key: string;
  readonly normalSide: NormalSide;
  readonly debitsPosted: string;
  readonly creditsPosted: string;
  /** On the account's normal side: positive when the account holds money the usual way. */
  readonly balance: string;
  readonly flags: { debitsMustNotExceedCredits: boolean; creditsMustNotExceedDebits: boolean; closed: boolean };
  readonly openedAt: string;
}

export interface StatementLine {
  readonly seq: string;
  readonly transferId: string;
  readonly journalId: string;
  readonly code: string;
  readonly postedAt: string;
  readonly side: 'debit' | 'credit';
  readonly amount: string;
  readonly counterparty: string;
  readonly batchId: string | null;
  readonly payoutId: string | null;
  readonly reference: string | null;
  /** The account's balance right after this line, on its normal side. */
  readonly balance: string;
}

export interface TransferView {
  readonly id: string;
  readonly seq: string;
  readonly journalId: string;
  readonly code: string;
  readonly currency: string;
  readonly amount: string;
  readonly debitAccount: string;
  readonly creditAccount: string;
  readonly batchId: string | null;
  readonly payoutId: string | null;
  readonly reference: string | null;
  readonly postedAt: string;
}

const balanceOn = (side: NormalSide, t: Totals): bigint => (side === 'credit' ? t.credits - t.debits : t.debits - t.credits);

export function accountView(a: AccountRecord): AccountView {
  const normalSide = normalSideOf(a.key);
  return {
    currency: a.currency,
    key: a.key,
    normalSide,
    debitsPosted: formatAmount(a.debitsPosted, a.currency),
    creditsPosted: formatAmount(a.creditsPosted, a.currency),
    balance: formatAmount(balanceOn(normalSide, { debits: a.debitsPosted, credits: a.creditsPosted }), a.currency),
    flags: { debitsMustNotExceedCredits: a.debitsMustNotExceedCredits, creditsMustNotExceedDebits: a.creditsMustNotExceedDebits, closed: a.closed },
    openedAt: a.createdAt.toISOString(),
  };
}

export function statementLine(account: AccountRecord, t: TransferRecord): StatementLine {
  const side = t.debitAccountId === account.id ? 'debit' : 'credit';
  const after = side === 'debit' ? t.debitAfter : t.creditAfter;
  if (after === null) throw new Error(`invariant violated: transfer ${t.id} records its running totals (migration 0002)`);
  return {
    seq: t.seq.toString(),
    transferId: t.id,
    journalId: t.journalId,
    code: t.code,
    postedAt: t.createdAt.toISOString(),
    side,
    amount: formatAmount(t.amountMinor, t.currency),
    counterparty: side === 'debit' ? t.creditKey : t.debitKey,
    batchId: t.batchId,
    payoutId: t.payoutId,
    reference: t.reference,
    balance: formatAmount(balanceOn(normalSideOf(account.key), after), t.currency),
  };
}

function transferView(t: TransferRecord): TransferView {
  return {
    id: t.id,
    seq: t.seq.toString(),
    journalId: t.journalId,
    code: t.code,
    currency: t.currency,
    amount: formatAmount(t.amountMinor, t.currency),
    debitAccount: t.debitKey,
    creditAccount: t.creditKey,
    batchId: t.batchId,
    payoutId: t.payoutId,
    reference: t.reference,
    postedAt: t.createdAt.toISOString(),
  };
}

// ---------------------------------------------------------------- cursors

/** s: statement seq, k: account key, r: payout row, g: signer key id. */
export type CursorKind = 's' | 'k' | 'r' | 'g';

/** Opaque to callers; strict to us: a cursor Tuma did not issue is refused, never guessed at. */
export const cursors = {
  encode: (kind: CursorKind, value: string): string => Buffer.from(`${kind}1:${value}`, 'utf8').toString('base64url'),
  decode(kind: CursorKind, cursor: string): string | null {
    if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) return null;
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    const prefix = `${kind}1:`;
    return text.startsWith(prefix) ? text.slice(prefix.length) : null;
  },
};

export function parseLimit(raw: unknown, max: number, fallback: number): number | null {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^[1-9][0-9]{0,6}$/.test(raw)) return null;
  const n = Number(raw);
  return n <= max ? n : null;
}

export function parseCurrency(raw: string): CurrencyCode | null {
  return isCurrencyCode(raw) ? raw : null;
}

// ---------------------------------------------------------------- reads

/** The account if it is the caller organisation's; another organisation's is as good as absent. */
export async function findOwnAccount(persistence: Persistence, organisationId: string, currency: CurrencyCode, key: string): Promise<AccountRecord | null> {
  const account = await persistence.read.ledger.findAccount(currency, key);
  return account && account.organisationId === organisationId ? account : null;
}

export async function getAccount(persistence: Persistence, organisationId: string, currency: CurrencyCode, key: string): Promise<AccountView | null> {
  const account = await findOwnAccount(persistence, organisationId, currency, key);
  return account ? accountView(account) : null;
}

export async function listAccounts(
  persistence: Persistence,
  organisationId: string,
  currency: CurrencyCode,
  page: { cursor: string | null; limit: number },
): Promise<Result<{ accounts: AccountView[]; nextCursor: string | null }, Rejection>> {
  const afterKey = page.cursor === null ? null : cursors.decode('k', page.cursor);
  if (page.cursor !== null && afterKey === null) return err(reject('QUERY_INVALID', 'cursor'));
  const rows = await persistence.read.ledger.listAccounts(currency, organisationId, afterKey, page.limit);
  const last = rows[rows.length - 1];
  return ok({ accounts: rows.map(accountView), nextCursor: rows.length === page.limit && last ? cursors.encode('k', last.key) : null });
}

export async function getStatement(
  persistence: Persistence,
  organisationId: string,
  currency: CurrencyCode,
  key: string,
  page: { cursor: string | null; limit: number },
): Promise<Result<{ account: AccountView; lines: StatementLine[]; nextCursor: string | null }, Rejection>> {
  const afterText = page.cursor === null ? null : cursors.decode('s', page.cursor);
  if (page.cursor !== null && (afterText === null || !/^[0-9]{1,19}$/.test(afterText))) return err(reject('QUERY_INVALID', 'cursor'));
  const account = await findOwnAccount(persistence, organisationId, currency, key);
  if (!account) return err(reject('NOT_FOUND'));
  const rows = await persistence.read.ledger.statement(account.id, afterText === null ? null : BigInt(afterText), page.limit);
  const last = rows[rows.length - 1];
  return ok({
    account: accountView(account),
    lines: rows.map((t) => statementLine(account, t)),
    nextCursor: rows.length === page.limit && last ? cursors.encode('s', last.seq.toString()) : null,
  });
}

export const statementCsvColumns = ['seq', 'posted_at', 'transfer_id', 'journal_id', 'code', 'side', 'amount', 'counterparty', 'batch_id', 'payout_id', 'reference', 'balance'] as const;

/** A CSV cell: quoted when it must be, and never read as a formula by a spreadsheet (OWASP CSV injection). */
export function csvCell(value: string | null, text: boolean): string {
  if (value === null) return '';
  const safe = text && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/**
 * The whole statement as CSV, page by page: memory stays bounded by one page however long the
 * history. Within one account, seq order is posting order and no later commit can land behind a
 * page already read (postings to the account hold its row lock until they commit).
 */
export async function* statementCsv(persistence: Persistence, account: AccountRecord, pageSize: number): AsyncGenerator<string> {
  yield `${statementCsvColumns.join(',')}\r\n`;
  let after: bigint | null = null;
  for (;;) {
    const rows: TransferRecord[] = await persistence.read.ledger.statement(account.id, after, pageSize);
    let chunk = '';
    for (const t of rows) {
      const l = statementLine(account, t);
      chunk += [
        csvCell(l.seq, false), csvCell(l.postedAt, false), csvCell(l.transferId, false), csvCell(l.journalId, false), csvCell(l.code, false),
        csvCell(l.side, false), csvCell(l.amount, false), csvCell(l.counterparty, true), csvCell(l.batchId, false), csvCell(l.payoutId, false),
        csvCell(l.reference, true), csvCell(l.balance, false),
      ].join(',') + '\r\n';
    }
    if (chunk) yield chunk;
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.seq;
  }
}

export async function getJournal(persistence: Persistence, organisationId: string, journalId: string): Promise<{ journalId: string; transfers: TransferView[] } | null> {
  const rows = await persistence.read.ledger.journal(journalId);
  if (rows.length === 0 || rows.length > journalViewMax) return null;
  // Every account of the journal must be the caller's; a journal is one organisation's by construction.
  const keys = new Set(rows.flatMap((r) => [`${r.currency}\u0000${r.debitKey}`, `${r.currency}\u0000${r.creditKey}`]));
  for (const k of keys) {
    const [currency, key] = k.split('\u0000') as [CurrencyCode, string];
    if (!(await findOwnAccount(persistence, organisationId, currency, key))) return null;
  }
  return { journalId, transfers: rows.map(transferView) };
}

export interface TrialBalance {
  readonly currency: string;
  readonly asOf: string;
  readonly rows: { kind: string; normalSide: NormalSide; accounts: number; debits: string; credits: string; balance: string }[];
  readonly totals: { debits: string; credits: string };
  readonly balanced: boolean;
}

export async function getTrialBalance(persistence: Persistence, organisationId: string, currency: CurrencyCode): Promise<TrialBalance> {
  const asOf = new Date();
  const rows = await persistence.read.ledger.trialBalance(currency, organisationId);
  let debits = 0n;
  let credits = 0n;
  const lines = rows.map((r) => {
    debits += r.debitsPosted;
    credits += r.creditsPosted;
    const normalSide = normalSideOf(`${r.kind}:`);
    return {
      kind: r.kind,
      normalSide,
      accounts: r.accounts,
      debits: formatAmount(r.debitsPosted, currency),
      credits: formatAmount(r.creditsPosted, currency),
      balance: formatAmount(balanceOn(normalSide, { debits: r.debitsPosted, credits: r.creditsPosted }), currency),
    };
  });
  return { currency, asOf: asOf.toISOString(), rows: lines, totals: { debits: formatAmount(debits, currency), credits: formatAmount(credits, currency) }, balanced: debits === credits };
}

// ---------------------------------------------------------------- fundings

const fundingBody = z.strictObject({
  amount: z.unknown(),
  currency: z.string(),
  source: z.string().regex(namePattern, 'source: 1-64 of [A-Za-z0-9_.-]'),
  reference: z.string().regex(referencePattern, 'reference: 1-128 printable ASCII characters').optional(),
});

export interface FundingView {
  readonly fundingId: string;
  readonly programmeId: string;
  readonly source: string;
  readonly amount: string;
  readonly currency: string;
  readonly reference: string | null;
  readonly postedAt: string;
  /** The programme's available balance right after this funding. */
  readonly availableAfter: string;
}

/**
 * Donor money into a programme's available account. The Idempotency-Key names the event: the
 * same key again returns the first result; the same key with another amount or source is a conflict.
 */
export async function recordFunding(
  persistence: Persistence,
  actor: Actor,
  programmeId: string,
  idempotencyKey: string,
  body: unknown,
  requestId: string | null = null,
): Promise<Result<{ replayed: boolean; funding: FundingView }, Rejection>> {
  const organisationId = actor.organisationId;
  if (!idempotencyKeyPattern.test(idempotencyKey)) return err(reject('IDEMPOTENCY_KEY_INVALID'));
  const parsed = fundingBody.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return err(reject('FUNDING_INVALID', issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'body'));
  }
  const programme = await persistence.read.batches.findProgramme(programmeId);
  if (!programme || programme.organisationId !== organisationId) return err(reject('NOT_FOUND'));
  const f = parsed.data;
  if (f.currency !== programme.currency) return err(reject('FUNDING_INVALID', `currency: the programme pays in ${programme.currency}`));
  const amount = parseAmount(f.amount, programme.currency);
  if (!amount.ok) return err(reject('FUNDING_INVALID', `amount: ${amount.error}`));

  const journal = postings.funding({
    idempotencyKey, organisationId, programmeId, source: f.source, currency: programme.currency, amountMinor: amount.value, reference: f.reference ?? null,
  });
  // The funding and its audit event in one transaction: no money in without its record (a replay adds neither).
  const posted = await persistence.transaction(async (tx) => {
    const done = await tx.ledger.postJournal(journal);
    if (!done.ok) return done;
    if (done.value === 'posted') {
      await appendAudit(tx, {
        organisationId, actor: actor.subject.slice(0, 128), requestId, action: 'funding.record', objectId: programmeId,
        detail: { amount: formatAmount(amount.value, programme.currency), currency: programme.currency, source: f.source.slice(0, 64), idempotencyKey: idempotencyKey.slice(0, 128) },
      });
    }
    return done;
  });
  if (!posted.ok) return posted;
  const [t] = await persistence.read.ledger.journal(journal.id);
  if (!t || !t.creditAfter) throw new Error(`invariant violated: funding ${journal.id} is stored with its totals`);
  return ok({
    replayed: posted.value === 'replayed',
    funding: {
      fundingId: t.id,
      programmeId,
      source: f.source,
      amount: formatAmount(t.amountMinor, t.currency),
      currency: t.currency,
      reference: t.reference,
      postedAt: t.createdAt.toISOString(),
      availableAfter: formatAmount(t.creditAfter.credits - t.creditAfter.debits, t.currency),
    },
  });
}
