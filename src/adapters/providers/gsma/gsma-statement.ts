// GSMA Mobile Money API v1.2 Account Statement Entries, pulled for a closed window and written as
// the entries CSV that domain/statement-formats.ts maps (gsma-statemententries@1): the header block
// (Account, Currency, Time Period in UTC), the column-header line, then one line per entry, page
// by page as the pages come (never all of them in memory).
//
// The provider lists entries newest first and pages them by offset: an entry created while the
// pages are read would shift every later page by one, an entry read twice or never. So only a
// window that has ended is pulled, and the count the provider says matches
// (X-Records-Available-Count) must be the same on every page; a pull that sees it change, reads
// more or fewer entries than it, meets an entry out of order or outside the window, or needs more
// than `pagesMax` pages fails (the stream errors) rather than write a statement that may be wrong.
// Contract: docs/reconciliation.md (Formats)
import { Readable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { isCurrencyCode, type CurrencyCode } from '../../../domain/currency.js';
import { formatAmount, parseAmount } from '../../../domain/money.js';
import { csvField, entriesPreamble, gsmaStatementEntriesV1 } from '../../../domain/statement-formats.js';
import { errorDetail } from '../token-cache.js';
import { GsmaClient, type GsmaSettings } from './gsma-client.js';
import { readErrorObject } from './mapping.js';

/** Entries asked per page when the caller names no page size: the GSMA default, which every provider serves. */
export const gsmaStatementPageSizeDefault = 50;
/** Entries one page may ask for at most (the simulator's bound; providers may serve fewer). */
export const gsmaStatementPageSizeMax = 1000;
/** Pages one pull reads at most when the caller names no bound: 500,000 entries at the default page size. */
export const gsmaStatementPagesMaxDefault = 10_000;
/** The JSON of one entry is at most this large (its fields are at most 256 characters, its parties 10 pairs). */
export const gsmaStatementEntryBytesMax = 16 * 1024;
/** A window is at most this long (the importer's own bound on a statement's period). */
export const gsmaStatementWindowMaxDays = 366;
/** Error details kept at most (they go to logs). */
const detailCharsMax = 200;

/** Our account at the provider, as the statement entries path names it, and its currency. */
export interface GsmaStatementAccount {
  /** e.g. walletid, accountid, msisdn. */
  readonly identifierType: string;
  readonly identifier: string;
  readonly currency: string;
}

/** [from, to): whole seconds, `to` in the past. */
export interface GsmaStatementWindow {
  readonly from: Date;
  readonly to: Date;
}

export interface GsmaStatementPullOptions {
  /** Entries asked per page (1 to gsmaStatementPageSizeMax); default gsmaStatementPageSizeDefault. */
  readonly pageSize?: number;
  /** Pages read at most; default gsmaStatementPagesMaxDefault. */
  readonly pagesMax?: number;
  /** Aborts the pull: the stream errors with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Where the client's warnings go (an OAuth refusal); default nowhere. */
  readonly logger?: Logger;
  /** The clock the window is checked against. */
  readonly now?: () => Date;
}

/** Why a pull was refused or stopped. */
export class GsmaStatementError extends Error {
  override readonly name = 'GsmaStatementError';
}

/**
 * The entries of `account` created in `window` as the entries CSV (CRLF lines): a Readable that
 * reads the next page only when the one before was consumed. Throws GsmaStatementError at once
 * for a window that is not closed in the past, not whole seconds, or longer than
 * gsmaStatementWindowMaxDays, an unknown currency, or bad options; the stream errors with one
 * for whatever goes wrong while paging.
 */
export function pullStatementEntries(settings: GsmaSettings, account: GsmaStatementAccount, window: GsmaStatementWindow, opts: GsmaStatementPullOptions = {}): Readable {
  const { currency } = account;
  if (!isCurrencyCode(currency)) throw new GsmaStatementError(`currency ${JSON.stringify(currency.slice(0, 8))}: not an ISO 4217 code Tuma knows`);
  if (!/^[A-Za-z0-9]{1,64}$/.test(account.identifierType)) throw new GsmaStatementError('identifierType: 1 to 64 letters and digits');
  if (account.identifier.length === 0 || account.identifier.length > 256 || /\p{Cc}/u.test(account.identifier)) throw new GsmaStatementError('identifier: 1 to 256 characters, no control characters');
  const from = window.from.getTime();
  const to = window.to.getTime();
  if (!Number.isFinite(from) || !Number.isFinite(to) || from % 1000 !== 0 || to % 1000 !== 0) throw new GsmaStatementError('window: from and to are whole seconds');
  if (from >= to) throw new GsmaStatementError('window: from must be before to');
  if (to - from > gsmaStatementWindowMaxDays * 86_400_000) throw new GsmaStatementError(`window: at most ${gsmaStatementWindowMaxDays} days`);
  const now = (opts.now ?? (() => new Date()))().getTime();
  if (to > now) throw new GsmaStatementError('window: it must have ended (entries are listed newest first: a page read while entries are still being created shifts the next ones)');
  const pageSize = opts.pageSize ?? gsmaStatementPageSizeDefault;
  const pagesMax = opts.pagesMax ?? gsmaStatementPagesMaxDefault;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > gsmaStatementPageSizeMax) throw new GsmaStatementError(`pageSize: an integer from 1 to ${gsmaStatementPageSizeMax}`);
  if (!Number.isInteger(pagesMax) || pagesMax < 1) throw new GsmaStatementError('pagesMax: a positive integer');
  const client = new GsmaClient(settings, opts.logger ?? pino({ level: 'silent' }));
  const accountName = `${account.identifierType}/${account.identifier}`;
  const preamble = entriesPreamble(gsmaStatementEntriesV1, { account: accountName, currency, from: utcTime(from), to: utcTime(to - 1000) });
  return Readable.from(pages({ client, account, currency, from, to, pageSize, pagesMax, preamble, signal: opts.signal }), { objectMode: false });
}

interface Pull {
  readonly client: GsmaClient;
  readonly account: GsmaStatementAccount;
  readonly currency: CurrencyCode;
  readonly from: number;
  readonly to: number;
  readonly pageSize: number;
  readonly pagesMax: number;
  readonly preamble: string;
  readonly signal: AbortSignal | undefined;
}

/** The preamble, then each page's lines as one chunk; ends after a page of fewer than pageSize entries. */
async function* pages(pull: Pull): AsyncGenerator<string> {
  yield pull.preamble;
  const path = `/accounts/${encodeURIComponent(pull.account.identifierType)}/${encodeURIComponent(pull.account.identifier)}/statemententries`;
  // toDateTime is the largest creationDate listed: the window's last millisecond.
  const window = `fromDateTime=${encodeURIComponent(new Date(pull.from).toISOString())}&toDateTime=${encodeURIComponent(new Date(pull.to - 1).toISOString())}`;
  let available: number | null = null;
  let read = 0;
  let newest = Number.POSITIVE_INFINITY;
  for (let page = 0; ; page += 1) {
    if (page >= pull.pagesMax) throw new GsmaStatementError(`more than ${pull.pagesMax} pages of ${pull.pageSize} entries: ask a shorter window or a larger pagesMax`);
    pull.signal?.throwIfAborted();
    const offset = page * pull.pageSize;
    let answer;
    try {
      answer = await pull.client.read(`${path}?limit=${pull.pageSize}&offset=${offset}&${window}`, { bytesMax: pull.pageSize * gsmaStatementEntryBytesMax, signal: pull.signal });
    } catch (error) {
      pull.signal?.throwIfAborted();
      throw new GsmaStatementError(`the page at offset ${offset} was not answered: ${errorDetail(error, detailCharsMax)}`);
    }
    if (answer.status !== 200) {
      const code = readErrorObject(answer.body)?.code;
      throw new GsmaStatementError(`the page at offset ${offset} was refused: HTTP ${answer.status}${code ? ` ${code.slice(0, 64)}` : ''}`);
    }
    const count = countHeader(answer.headers, 'X-Records-Available-Count');
    if (count === null) throw new GsmaStatementError(`the page at offset ${offset} has no X-Records-Available-Count`);
    if (available === null) available = count;
    else if (count !== available) throw new GsmaStatementError(`X-Records-Available-Count changed from ${available} to ${count} at offset ${offset}: the entries moved while they were read`);
    if (!Array.isArray(answer.body)) throw new GsmaStatementError(`the page at offset ${offset} is not a JSON array of entries`);
    const entries: unknown[] = answer.body;
    if (entries.length > pull.pageSize) throw new GsmaStatementError(`the page at offset ${offset} has ${entries.length} entries, more than the ${pull.pageSize} asked`);
    const returned = countHeader(answer.headers, 'X-Records-Returned-Count');
    if (returned !== entries.length) throw new GsmaStatementError(`the page at offset ${offset} has ${entries.length} entries but X-Records-Returned-Count says ${returned ?? 'nothing'}`);
    read += entries.length;
    if (read > available) throw new GsmaStatementError(`${read} entries read, more than the ${available} X-Records-Available-Count says`);
    let lines = '';
    for (const [i, raw] of entries.entries()) {
      const entry = entryLine(raw, pull);
      if ('problem' in entry) throw new GsmaStatementError(`entry ${offset + i + 1}: ${entry.problem}`);
      if (entry.createdAt > newest) throw new GsmaStatementError(`entry ${offset + i + 1}: created after the one before it (entries come newest first)`);
      newest = entry.createdAt;
      lines += entry.line;
    }
    if (lines.length > 0) yield lines;
    if (entries.length < pull.pageSize) break;
  }
  if (read !== available) throw new GsmaStatementError(`${read} entries read, but X-Records-Available-Count says ${available ?? 0}`);
}

/** A count header (digits only); null when absent or not one. */
function countHeader(headers: { get(name: string): string | null }, name: string): number | null {
  const value = headers.get(name)?.trim();
  return value !== undefined && /^[0-9]{1,12}$/.test(value) ? Number(value) : null;
}

/** A GSMA amount: 0–4 decimals, no sign, no leading zero but one, at most 18 integer digits (GSMA-FUND). */
const gsmaAmountPattern = /^(0|[1-9][0-9]{0,17})(\.[0-9]{1,4})?$/;
/** A text a CSV cell may hold: no control character (a line break would split the line). */
const plainText = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length >= 1 && v.length <= max && !/\p{Cc}/u.test(v);

/**
 * One entry as its CSV line: reference, creationDate in UTC, Booked / Failed (any other status
 * as written, capitalised), the amount negative when our account is the debit party, the kind
 * (reversal when `type` or `displayType` says so; payout when it debits our account and says
 * disbursement or nothing; other otherwise), the reversed transaction's reference, and nothing
 * for Our Reference and Balance (the entries carry neither).
 */
function entryLine(raw: unknown, pull: Pull): { line: string; createdAt: number } | { problem: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { problem: 'not an object' };
  const e = raw as Record<string, unknown>;
  if (!plainText(e.transactionReference)) return { problem: 'transactionReference: 1 to 256 characters, no control characters' };
  if (!plainText(e.transactionStatus)) return { problem: 'transactionStatus: 1 to 256 characters, no control characters' };
  if (e.currency !== pull.currency) return { problem: `currency: not the account's ${pull.currency}` };
  const createdAt = typeof e.creationDate === 'string' ? Date.parse(e.creationDate) : NaN;
  if (!Number.isFinite(createdAt)) return { problem: 'creationDate: not a date-time' };
  if (createdAt < pull.from || createdAt >= pull.to) return { problem: 'creationDate: outside the window asked' };
  const amount = exactAmount(e.amount, pull.currency);
  if (typeof amount !== 'string') return amount;
  const ours = (parties: unknown) =>
    Array.isArray(parties) && parties.some((p: unknown) => {
      const party = p as { key?: unknown; value?: unknown } | null;
      return typeof party?.key === 'string' && party.key.toLowerCase() === pull.account.identifierType.toLowerCase() && party.value === pull.account.identifier;
    });
  const debit = ours(e.debitParty);
  const credit = ours(e.creditParty);
  if (debit === credit) return { problem: debit ? 'our account is both the debit and the credit party' : 'our account is neither the debit nor the credit party' };
  const kindOf = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : '');
  const kind = kindOf(e.type) || kindOf(e.displayType);
  const entryType = kind === 'reversal' ? 'reversal' : debit && (kind === '' || kind === 'disbursement') ? 'payout' : 'other';
  const linked = e.originalTransactionReference;
  if (linked !== undefined && !plainText(linked)) return { problem: 'originalTransactionReference: 1 to 256 characters, no control characters' };
  const status = e.transactionStatus.toLowerCase() === 'completed' ? 'Booked' : e.transactionStatus.toLowerCase() === 'failed' ? 'Failed' : `${e.transactionStatus.charAt(0).toUpperCase()}${e.transactionStatus.slice(1)}`;
  const signed = debit && amount !== formatAmount(0n, pull.currency) ? `-${amount}` : amount;
  const cells = [e.transactionReference, utcTime(createdAt), status, signed, entryType, entryType === 'reversal' ? (linked ?? '') : '', '', ''];
  return { line: `${cells.map(csvField).join(',')}\r\n`, createdAt };
}

/** The entry's amount with the currency's decimals, read digit by digit (never through a number); or what is wrong with it. */
function exactAmount(text: unknown, currency: CurrencyCode): string | { problem: string } {
  if (typeof text !== 'string' || !gsmaAmountPattern.test(text)) return { problem: 'amount: not a GSMA amount (digits, at most 4 decimals)' };
  if (/^0(\.0+)?$/.test(text)) return formatAmount(0n, currency);
  const minor = parseAmount(text, currency);
  if (!minor.ok) return { problem: minor.error === 'AMOUNT_SCALE' ? `amount: more decimals than ${currency} has` : 'amount: out of range' };
  return formatAmount(minor.value, currency);
}

/** `YYYY-MM-DD HH:MM:SS` in UTC. */
const utcTime = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/** A CSV cell quoted as entriesPreamble quotes one: only when it holds a quote, a comma or a line break. */
