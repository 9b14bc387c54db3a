// ISO 20022 camt.053 (BankToCustomerStatement, versions .001.02 to .001.13) → the entries CSV
// (domain/statement-formats.ts camt053V1), as a stream (docs/reconciliation.md (Formats)). A SAX parser (saxes) reads the document element by element; the reader keeps the path it
// is at, the statement's header fields and the one entry being read, nothing more. Elements are
// matched on their local names (the namespace differs by version; the root's namespace is
// checked once). Names, counterparty accounts and narratives (RltdPties, RmtInf, AddtlNtryInf)
// are never captured: only the texts of the paths below are.
//
// Refused before the parser sees them: a DOCTYPE (no entity of any DTD is ever expanded, so no
// billion laughs and no external entity), and a stretch of more than fieldCharsMax +
// markupCharsMax characters without a `<` (the parser would hold it whole in memory).
import { Transform, type TransformCallback } from 'node:stream';
import { TextDecoder } from 'node:util';
import { SaxesParser, type SaxesStartTagNS, type SaxesTagNS } from 'saxes';
import { entriesPreamble, type StatementFormat } from '../../domain/statement-formats.js';
import {
  bookedStatus, entryLine, entryReferenceCharsMax, entryTypeOf, lastSecondOfDay, ourReferenceCharsMax, signedDecimal, utcMillisOf, utcText,
} from './entries-csv.js';
import { readerLimitsOf, StatementReadError, type ReaderLimits } from './limits.js';

/** The root's namespace: camt.053.001.02 to camt.053.001.13. */
const camt053Namespace = /^urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(0[2-9]|1[0-3])$/;
/** Characters of markup (a start tag with its attributes and namespace declarations) next to one element's text. */
export const markupCharsMax = 1024;
const doctypeOpen = '<!DOCTYPE';
/** Balance types: opening booked, or the previous statement's closing booked where there is no OPBD; closing booked. */
const openingType = 'OPBD';
const previousClosingType = 'PRCD';
const closingType = 'CLBD';
/** Sub-family codes of the ISO bank transaction codes for charges and commissions. */
const chargeSubFamilies: ReadonlySet<string> = new Set(['CHRG', 'COMM']);
/** What a bank writes for an end-to-end id the payer did not give. */
const endToEndNotProvided = 'NOTPROVIDED';
/** An amount (xs:decimal, never negative: the side is CdtDbtInd). */
const decimalPattern = /^([0-9]+)(?:\.([0-9]*))?$/;
const isoDatePattern = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const isoDateTimePattern = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$/;
/** UTC offsets run from -12:00 to +14:00. */
const offsetMinutesMax = 14 * 60;

interface BalanceDraft {
  type: string;
  amount: string;
  currency: string;
  side: string;
  date: string;
  dateTime: string;
}

interface Balance {
  readonly amount: string;
  /** The UTC day of the balance's date (for a period the statement does not state). */
  readonly dayMs: number | null;
}

interface EntryDraft {
  readonly ordinal: number;
  readonly xmlLine: number;
  amount: string;
  currency: string;
  side: string;
  reversal: string;
  status: string;
  bookedDate: string;
  bookedDateTime: string;
  accountServicerReference: string;
  entryReference: string;
  subFamily: string;
  proprietaryCode: string;
  transactions: number;
  endToEndId: string;
  transactionAccountServicerReference: string;
}

const newEntry = (ordinal: number, xmlLine: number): EntryDraft => ({
  ordinal, xmlLine, amount: '', currency: '', side: '', reversal: '', status: '', bookedDate: '', bookedDateTime: '', accountServicerReference: '',
  entryReference: '', subFamily: '', proprietaryCode: '', transactions: 0, endToEndId: '', transactionAccountServicerReference: '',
});

export function createCamt053Reader(format: StatementFormat, limits?: Partial<ReaderLimits>): Transform {
  if (format.container !== 'camt053') throw new Error(`invariant violated: ${format.id} is not a camt.053 mapping`);
  return new Camt053Reader(format, readerLimitsOf(limits));
}

class Camt053Reader extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private readonly parser = new SaxesParser({ xmlns: true, position: true });
  private bytes = 0;
  /** Characters decoded so far, and since the last `<`; the end of what came before (a DOCTYPE split across chunks). */
  private chars = 0;
  private run = 0;
  private tail = '';
  /** Local names from the root to the element being read. */
  private readonly path: string[] = [];
  /** The text since the last tag: a leaf's value when its end tag comes. */
  private text = '';
  private out = '';
  private statements = 0;
  private account = '';
  private accountCurrency = '';
  private currency = '';
  private from = '';
  private to = '';
  private balance: BalanceDraft | null = null;
  private readonly balances = new Map<string, Balance>();
  private entry: EntryDraft | null = null;
  private entries = 0;
  private preambleWritten = false;

  constructor(
    private readonly format: StatementFormat,
    private readonly limits: ReaderLimits,
  ) {
    super();
    this.parser.on('xmldecl', (decl) => {
      if (decl.encoding !== undefined && !/^utf-?8$/i.test(decl.encoding)) this.fail('the XML declaration names an encoding other than UTF-8');
    });
    this.parser.on('doctype', () => this.fail('the document has a DOCTYPE: refused (no DTD is read)'));
    this.parser.on('opentagstart', (tag: SaxesStartTagNS) => this.checkDepth(tag));
    this.parser.on('opentag', (tag: SaxesTagNS) => this.open(tag));
    this.parser.on('closetag', (tag: SaxesTagNS) => this.close(tag));
    this.parser.on('text', (text) => this.addText(text));
    this.parser.on('cdata', (text) => this.addText(text));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.bytes += chunk.length;
      if (this.bytes > this.limits.bytesMax) this.fail(`the file is larger than ${this.limits.bytesMax} bytes`);
      this.feed(this.decode(chunk));
    } catch (error) {
      callback(readErrorOf(error, this.parser.line));
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.bytes === 0) this.fail('the file is empty');
      this.feed(this.decode(null));
      this.parser.close();
      if (this.statements === 0) this.fail('no Stmt: the document holds no statement');
    } catch (error) {
      callback(readErrorOf(error, this.parser.line));
      return;
    }
    callback();
  }

  private decode(chunk: Buffer | null): string {
    try {
      return chunk === null ? this.decoder.decode() : this.decoder.decode(chunk, { stream: true });
    } catch {
      return this.fail(`the file is not UTF-8 (by byte ${this.bytes})`);
    }
  }

  private feed(text: string): void {
    if (text.length === 0) return;
    this.scan(text);
    this.parser.write(text);
    if (this.out.length > 0) {
      this.push(this.out);
      this.out = '';
    }
  }

  /** Refuses what must not reach the parser: a DOCTYPE, and text too long to hold. */
  private scan(text: string): void {
    const joined = this.tail + text;
    if (joined.includes(doctypeOpen)) this.fail('the document has a DOCTYPE: refused (no DTD is read)');
    this.tail = joined.slice(-(doctypeOpen.length - 1));
    const runMax = this.limits.fieldCharsMax + markupCharsMax;
    for (let from = 0; ;) {
      const lt = text.indexOf('<', from);
      this.run += (lt < 0 ? text.length : lt) - from;
      if (this.run > runMax) this.fail(`more than ${runMax} characters without markup (by character ${this.chars + (lt < 0 ? text.length : lt)})`);
      if (lt < 0) break;
      this.run = 0;
      from = lt + 1;
    }
    this.chars += text.length;
  }

  private checkDepth(_tag: SaxesStartTagNS): void {
    if (this.path.length + 1 > this.limits.depthMax) this.fail(`elements nested deeper than ${this.limits.depthMax} (XML line ${this.parser.line})`);
  }

  private addText(text: string): void {
    this.text += text;
    if (this.text.length > this.limits.fieldCharsMax) this.fail(`an element's text is longer than ${this.limits.fieldCharsMax} characters (XML line ${this.parser.line})`);
  }

  private open(tag: SaxesTagNS): void {
    this.path.push(tag.local);
    this.text = '';
    const depth = this.path.length;
    if (depth === 1 && (tag.local !== 'Document' || !camt053Namespace.test(tag.uri))) {
      this.fail('the root is not a camt.053 Document (namespace urn:iso:std:iso:20022:tech:xsd:camt.053.001.02 to .13)');
    }
    if (depth === 2 && tag.local !== 'BkToCstmrStmt') this.fail('the Document holds no BkToCstmrStmt');
    switch (this.key()) {
      case 'Stmt':
        this.statements += 1;
        if (this.statements > 1) this.fail(`a second Stmt (XML line ${this.parser.line}): the file holds more than one statement; import each statement on its own`);
        return;
      case 'Stmt/Bal':
        if (this.entries > 0) this.fail(`a Bal after the entries (XML line ${this.parser.line})`);
        this.balance = { type: '', amount: '', currency: '', side: '', date: '', dateTime: '' };
        return;
      case 'Stmt/Bal/Amt':
        if (this.balance) this.balance.currency = tag.attributes.Ccy?.value ?? '';
        return;
      case 'Stmt/Ntry':
        this.entries += 1;
        if (this.entries > this.limits.entriesMax) this.fail(`more than ${this.limits.entriesMax} entries`);
        this.writePreamble();
        this.entry = newEntry(this.entries, this.parser.line);
        return;
      case 'Stmt/Ntry/Amt':
        if (this.entry) this.entry.currency = tag.attributes.Ccy?.value ?? '';
        return;
      case 'Stmt/Ntry/NtryDtls/TxDtls':
        if (this.entry) this.entry.transactions += 1;
        return;
      default:
        return;
    }
  }

  private close(_tag: SaxesTagNS): void {
    const key = this.key();
    const value = this.text.trim();
    this.text = '';
    this.path.pop();
    if (key.startsWith('Stmt/Ntry')) this.closeInEntry(key, value);
    else if (key.startsWith('Stmt/Bal')) this.closeInBalance(key, value);
    else this.closeInStatement(key, value);
  }

  private closeInStatement(key: string, value: string): void {
    switch (key) {
      case 'Stmt/FrToDt/FrDtTm': this.from = value; return;
      case 'Stmt/FrToDt/ToDtTm': this.to = value; return;
      case 'Stmt/Acct/Id/IBAN':
      case 'Stmt/Acct/Id/Othr/Id': this.account = value; return;
      case 'Stmt/Acct/Ccy': this.accountCurrency = value; return;
      case 'Stmt': this.writePreamble(); return;
      default: return;
    }
  }

  private closeInBalance(key: string, value: string): void {
    const b = this.balance;
    if (!b) return;
    switch (key) {
      case 'Stmt/Bal/Tp/CdOrPrtry/Cd': b.type = value; return;
      case 'Stmt/Bal/Amt': b.amount = value; return;
      case 'Stmt/Bal/CdtDbtInd': b.side = value; return;
      case 'Stmt/Bal/Dt/Dt': b.date = value; return;
      case 'Stmt/Bal/Dt/DtTm': b.dateTime = value; return;
      case 'Stmt/Bal': this.balance = null; this.addBalance(b); return;
      default: return;
    }
  }

  private closeInEntry(key: string, value: string): void {
    const e = this.entry;
    if (!e) return;
    switch (key) {
      case 'Stmt/Ntry/Amt': e.amount = value; return;
      case 'Stmt/Ntry/CdtDbtInd': e.side = value; return;
      case 'Stmt/Ntry/RvslInd': e.reversal = value; return;
      // Sts is a code up to .001.06 and a choice of Cd or Prtry after: an empty Sts is the choice's.
      case 'Stmt/Ntry/Sts': if (value.length > 0) e.status = value; return;
      case 'Stmt/Ntry/Sts/Cd':
      case 'Stmt/Ntry/Sts/Prtry': e.status = value; return;
      case 'Stmt/Ntry/BookgDt/Dt': e.bookedDate = value; return;
      case 'Stmt/Ntry/BookgDt/DtTm': e.bookedDateTime = value; return;
      case 'Stmt/Ntry/AcctSvcrRef': e.accountServicerReference = value; return;
      case 'Stmt/Ntry/NtryRef': e.entryReference = value; return;
      case 'Stmt/Ntry/BkTxCd/Domn/Fmly/SubFmlyCd': e.subFamily = value; return;
      case 'Stmt/Ntry/BkTxCd/Prtry/Cd': e.proprietaryCode = value; return;
      // A batch entry has several transactions: the first one's references are kept.
      case 'Stmt/Ntry/NtryDtls/TxDtls/Refs/EndToEndId': if (e.endToEndId.length === 0) e.endToEndId = value; return;
      case 'Stmt/Ntry/NtryDtls/TxDtls/Refs/AcctSvcrRef':
        if (e.transactionAccountServicerReference.length === 0) e.transactionAccountServicerReference = value;
        return;
      case 'Stmt/Ntry': this.entry = null; this.out += entryLine(this.entryOf(e)); return;
      default: return;
    }
  }

  /** The path below BkToCstmrStmt (`Stmt/Ntry/Amt`); `Document` and `BkToCstmrStmt` are checked once. */
  private key(): string {
    return this.path.slice(2).join('/');
  }

  private addBalance(b: BalanceDraft): void {
    const at = `Bal (XML line ${this.parser.line}): `;
    this.currency ||= this.accountCurrency || b.currency;
    if (b.currency !== this.currency) this.fail(`${at}its currency is not the statement's`);
    const amount = this.amountOf(b.amount, b.side, at);
    const dayMs = b.dateTime.length > 0 ? dayOf(this.dateTimeOf(b.dateTime, at)) : b.date.length > 0 ? this.dateOf(b.date, at) : null;
    if (![openingType, previousClosingType, closingType].includes(b.type)) return;
    if (this.balances.has(b.type)) this.fail(`${at}a second ${b.type} balance`);
    this.balances.set(b.type, { amount, dayMs });
  }

  private writePreamble(): void {
    if (this.preambleWritten) return;
    if (this.account.length === 0) this.fail('no Acct/Id/IBAN or Acct/Id/Othr/Id: the statement names no account');
    const opening = this.balances.get(openingType) ?? this.balances.get(previousClosingType);
    const closing = this.balances.get(closingType);
    if (!opening) this.fail(`no opening balance (Bal of type ${openingType} or ${previousClosingType}) before the entries`);
    if (!closing) this.fail(`no closing balance (Bal of type ${closingType}) before the entries`);
    const { from, to } = this.period(opening, closing);
    this.out += entriesPreamble(this.format, { account: this.account, currency: this.currency, from: utcText(from), to: utcText(to), opening: opening.amount, closing: closing.amount });
    this.preambleWritten = true;
  }

  /** [from, to] with `to` the last second covered: FrToDt, else the opening balance's day to the closing balance's. */
  private period(opening: Balance, closing: Balance): { from: number; to: number } {
    const at = 'FrToDt: ';
    let from: number;
    let to: number;
    if (this.from.length > 0 || this.to.length > 0) {
      if (this.from.length === 0 || this.to.length === 0) this.fail(`${at}FrDtTm and ToDtTm come together`);
      from = isoDatePattern.test(this.from) ? this.dateOf(this.from, at) : this.dateTimeOf(this.from, at);
      to = isoDatePattern.test(this.to) ? lastSecondOfDay(this.dateOf(this.to, at)) : this.dateTimeOf(this.to, at);
    } else {
      if (opening.dayMs === null || closing.dayMs === null) this.fail('no FrToDt, and the opening or closing balance has no date: the statement states no period');
      from = opening.dayMs;
      to = lastSecondOfDay(closing.dayMs);
    }
    if (to < from) this.fail(`${at}the period ends before it starts`);
    return { from, to };
  }

  private entryOf(e: EntryDraft): Parameters<typeof entryLine>[0] {
    const at = `entry ${e.ordinal} (XML line ${e.xmlLine}): `;
    const fail = (problem: string): never => this.fail(at + problem, e.ordinal);
    if (e.currency !== this.currency) fail('its currency (Amt@Ccy) is not the statement\'s');
    const amount = this.amountOf(e.amount, e.side, at, e.ordinal);
    const reversal = booleanOf(e.reversal);
    if (reversal === null) fail('RvslInd is neither true nor false');
    const bookedAt = e.bookedDateTime.length > 0 ? this.dateTimeOf(e.bookedDateTime, at, e.ordinal)
      : e.bookedDate.length > 0 ? this.dateOf(e.bookedDate, at, e.ordinal) : null;
    const reference = e.accountServicerReference || e.entryReference || e.transactionAccountServicerReference;
    if (reference.length === 0) fail('no reference (AcctSvcrRef, NtryRef or TxDtls/Refs/AcctSvcrRef)');
    if (reference.length > entryReferenceCharsMax) fail(`its reference is longer than ${entryReferenceCharsMax} characters`);
    // A batch entry's end-to-end id would be one payment's of several: it is no reference of the entry.
    const ours = e.transactions === 1 && e.endToEndId !== endToEndNotProvided ? e.endToEndId : '';
    if (ours.length > ourReferenceCharsMax) fail(`its EndToEndId is longer than ${ourReferenceCharsMax} characters`);
    const charge = chargeSubFamilies.has(e.subFamily) || e.proprietaryCode.toUpperCase().includes('CHRG');
    return {
      reference,
      bookedAt: bookedAt === null ? '' : utcText(bookedAt),
      status: e.status === 'BOOK' ? bookedStatus : e.status,
      amount,
      type: entryTypeOf({ reversal: reversal === true, charge, debit: e.side === 'DBIT' }),
      linkedReference: '',
      ourReference: ours,
      sourceLine: e.xmlLine,
    };
  }

  private amountOf(text: string, side: string, at: string, ordinal?: number): string {
    if (side !== 'CRDT' && side !== 'DBIT') this.fail(`${at}CdtDbtInd is neither CRDT nor DBIT`, ordinal);
    const m = decimalPattern.exec(text);
    if (!m) return this.fail(`${at}Amt is not a decimal amount`, ordinal);
    const amount = signedDecimal(m[1] ?? '', m[2] ?? '', side === 'DBIT');
    return amount ?? this.fail(`${at}Amt has more than 15 integer digits`, ordinal);
  }

  private dateOf(text: string, at: string, ordinal?: number): number {
    const m = isoDatePattern.exec(text);
    const ms = m ? utcMillisOf(Number(m[1]), Number(m[2]), Number(m[3])) : null;
    return ms ?? this.fail(`${at}a date that is not YYYY-MM-DD of the calendar`, ordinal);
  }

  /** An ISODateTime in UTC, to the second; one without an offset is taken as UTC (the standard leaves it local, and names no place). */
  private dateTimeOf(text: string, at: string, ordinal?: number): number {
    const m = isoDateTimePattern.exec(text);
    const ms = m ? utcMillisOf(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) : null;
    const offset = offsetMinutesOf(m?.[7]);
    if (ms === null || offset === null) return this.fail(`${at}a date-time that is not YYYY-MM-DDThh:mm:ss[.s][Z|±hh:mm] of the calendar`, ordinal);
    return ms - offset * 60_000;
  }

  private fail(problem: string, line?: number): never {
    throw new StatementReadError(problem, line);
  }
}

/** Minutes east of UTC of `Z`, `+03:00`, `-05:30` or nothing (UTC); null when out of range. */
function offsetMinutesOf(text: string | undefined): number | null {
  if (text === undefined || text === 'Z') return 0;
  const minutes = Number(text.slice(1, 3)) * 60 + Number(text.slice(4, 6));
  if (Number(text.slice(4, 6)) > 59 || minutes > offsetMinutesMax) return null;
  return text.startsWith('-') ? -minutes : minutes;
}

/** The start of the UTC day of an instant. */
const dayOf = (ms: number): number => ms - (((ms % 86_400_000) + 86_400_000) % 86_400_000);

/** xs:boolean; absent is false. */
function booleanOf(text: string): boolean | null {
  if (text === '' || text === 'false' || text === '0') return false;
  if (text === 'true' || text === '1') return true;
  return null;
}

/**
 * The reader's own errors as they are; a parser error as a StatementReadError naming where and
 * which rule of XML was broken, without the parser's words after the rule (they may quote the
 * file: a tag's or an entity's name).
 */
function readErrorOf(error: unknown, xmlLine: number): Error {
  if (error instanceof StatementReadError) return error;
  if (error instanceof Error) {
    const m = /^(?:[^:]*:)?([0-9]+):([0-9]+): (.*)$/s.exec(error.message);
    if (m) {
      const rule = (m[3] ?? '').split(/[:"`]/)[0]?.replace(/[^A-Za-z ?.,]/g, '').trim().slice(0, 80) ?? '';
      return new StatementReadError(`not well-formed XML at XML line ${m[1]}, column ${m[2]}${rule ? `: ${rule}` : ''}`);
    }
    return error;
  }
  return new StatementReadError(`the reader failed at XML line ${xmlLine}`);
}
