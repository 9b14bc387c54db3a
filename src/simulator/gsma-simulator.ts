// A GSMA Mobile Money API v1.2 simulator (single disbursements) on localhost: OAuth client
// credentials, POST /transactions/type/disbursement in async (202 RequestState, then a PUT
// callback) or sync (201 Transaction) mode, a reused X-CorrelationID refused as duplicateRequest
// and never executed twice, request-state polling, transaction view, missing-response retrieval
// (/responses), heartbeat, deterministic fault injection per creditParty msisdn pattern, a
// statement of what it executed, and the Account Statement Entries API
// (GET /accounts/{identifierType}/{identifier}/statemententries) of the accounts it debited. The
// control API (controlRouter) is for tests and demos.
import { randomBytes, randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isCurrencyCode, scaleOf } from '../domain/currency.js';
import {
  type ProviderSimulator,
  createSimulatorTasks,
  faultDelayMaxMs,
  faultDelaySchema,
  faultPatternSchema,
  faultRulesMax,
  faultsSchemaOf,
  maskNumber,
  picksSecondShape,
  reportCurrencySchema,
  reportReceiptSchemaOf,
  reportReceiverSchema,
  statementCsv,
  statementLinesMax,
} from './faults.js';

export interface GsmaSimulatorOptions {
  readonly consumerKey: string;
  readonly consumerSecret: string;
  /** When set, every API call must carry it as X-API-Key. */
  readonly apiKey?: string;
  /** When set, every API call must carry it as X-Client-Id (401 clientAuthorisationError otherwise). */
  readonly clientId?: string;
  /**
   * When set, the one form this provider serves: type-in-path (POST /transactions/type/disbursement)
   * or type-in-body (POST /transactions with "type": "disbursement"); the other is not a route here
   * (404). Unset: both.
   */
  readonly disbursementForm?: 'type-in-path' | 'type-in-body';
  /**
   * When set, every API call must carry X-Date in this form (an RFC 3339 date-time, or an RFC 7231
   * HTTP-date), within gsmaSimulatorDateSkewMs of the simulator's clock; 400 otherwise.
   */
  readonly requireDate?: 'date-time' | 'http-date';
  /**
   * Bulk disbursement (POST /batchtransactions): one-step (a parsed batch runs at once) or
   * two-step (a parsed batch stays `created` until PATCHed to `approved`, the provider's
   * maker-checker). Unset: one-step.
   */
  readonly bulkApproval?: 'one-step' | 'two-step';
  /** How long after a 202 the disbursement completes (and the callback is sent). */
  readonly callbackDelayMs: number;
  /** async (default): 202 then a callback; sync: 201 with the final transaction. */
  readonly mode?: 'async' | 'sync';
  /**
   * Accounts whose statement entries may be read before any disbursement debited them (as
   * identifier pairs, e.g. { key: 'walletid', value: '1' }); an account a disbursement's
   * debitParty named is known anyway.
   */
  readonly accounts?: readonly { readonly key: string; readonly value: string }[];
  readonly logger: Logger;
}

/** Requests kept in memory at most; the simulator is for tests and demos. */
export const gsmaSimulatorRequestsMax = 1_000_000;
/** Items one batch may carry at most here (GSMA allows 999,999; a simulator keeps it smaller). */
export const gsmaSimulatorBatchItemsMax = 10_000;
/** Completions or rejections one page may ask for at most (a larger `limit` is refused, formatError). */
export const gsmaBatchPageLimitMax = 1000;
/** A batch request body is at most this large. */
const batchBodyLimit = '8mb';
/** How far an insisted-on X-Date may be from the simulator's clock. */
export const gsmaSimulatorDateSkewMs = 5 * 60_000;
/** An RFC 7231 IMF-fixdate, e.g. Sun, 06 Nov 1994 08:49:37 GMT. */
const httpDatePattern = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;
/** Live tokens at most: the oldest is forgotten first. */
export const gsmaSimulatorTokensMax = 1_000;
const tokenTtlS = 3600;
const callbackAttemptsMax = 3;
const callbackTimeoutMs = 5_000;
/** What the 202 tells the client about polling. */
const pollLimit = 100;
/**
 * The specification's amount pattern, verbatim: at most 18 integer digits, 1-4 decimals the last
 * of which is not 0. A strict provider refuses "50.00" (formatError), and so does the simulator.
 */
export const gsmaSpecAmountPattern = /^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$/;
/** A reported amount or fee (a rule's lie) is still one the specification allows: the contract tests check every callback. */
const specAmountSchema = z.string().regex(gsmaSpecAmountPattern, 'must be a GSMA amount: at most 18 integer digits, 1-4 decimals not ending in 0 ("50", "50.5")');
/** ISO 4217 codes (the specification's currency enum, as today's ISO list). */
const iso4217: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));
/** Statement entries returned when no `limit` is asked (the GSMA default). */
export const gsmaStatementEntriesLimitDefault = 50;
/** Statement entries one request may ask for at most (a larger `limit` is refused, formatError). */
export const gsmaStatementEntriesLimitMax = 1000;


/** The documented error codes and the category (hence HTTP status) a provider files them under. */
const validationCodes = ['lengthError', 'formatError', 'negativeValue', 'currencyNotSupported', 'mandatoryValueNotSupplied', 'invalidOffset'];
const authorisationCodes = ['clientAuthorisationError', 'requestDeclined', 'servicingPartyAuthorisationError', 'requestingPartyAuthorisationError'];
const businessRuleCodes = [
  'genericError', 'dailyVolumeLimitExceeded', 'dailyValueLimitExceeded', 'weeklyVolumeLimitExceeded', 'weeklyValueLimitExceeded',
  'monthlyVolumeLimitExceeded', 'monthlyValueLimitExceeded', 'accountMaxTotalVolumeExceeded', 'accountMaxTotalValueExceeded',
  'lessThanTransactionMinValue', 'greaterThanTransactionMaxValue', 'maxBalanceExceeded', 'samePartiesError', 'duplicateRequest',
  'insufficientFunds', 'incorrectState', 'underPaymentNotAllowed', 'overPaymentNotAllowed', 'rateLimitError', 'transactionTypeError',
  'noMandateAuthority', 'linkViolation', 'countryofOriginNotPermitted', 'nationalityNotPermitted', 'idDocumentNotSupported',
  'issuingCountryNotSupported', 'quoteHasExpired',
];
const documentedCodes = [...businessRuleCodes, ...validationCodes, ...authorisationCodes, 'identifierError'] as const;

type Category = 'businessRule' | 'validation' | 'authorisation' | 'identification' | 'internal' | 'serviceUnavailable';
const categoryOf = (code: string): Category =>
  validationCodes.includes(code) ? 'validation' : authorisationCodes.includes(code) ? 'authorisation' : code === 'identifierError' ? 'identification' : 'businessRule';
const httpStatusOf: Record<Category, number> = { businessRule: 400, validation: 400, authorisation: 401, identification: 404, internal: 500, serviceUnavailable: 503 };


/**
 * What a matching disbursement meets. fail: it fails with `errorCode` (default genericError);
 * insufficient-float: it fails with insufficientFunds; pending-forever: it never completes;
 * timeout-after-create: it runs, the HTTP answer is held `holdMs` (past the client's timeout);
 * error-503-after-create: it runs, the answer is 503 serviceUnavailable; lost-callback: no
 * callback; duplicate-callback: the callback comes twice; out-of-order-callback: a stale
 * "pending" transaction arrives after the final one; delay-callback: the callback comes `delayMs` late;
 * reverse-after-success: it completes as usual, then `delayMs` later the provider reverses it (the
 * transaction reads "reversed", a callback says so, and the statement gets a reversal line).
 *
 * What the Transaction (callback, GET /transactions, sync 201) REPORTS, never what runs (the
 * statement and the execution count keep the truth): reportAmount, reportCurrency, reportReceiver
 * (the creditParty msisdn, digits; '+' added when the request had one and the number is
 * international), reportReceipt (a fixed transactionReference instead of a fresh one: a reference
 * reused on two payouts; lookups by /responses and request state still find the real one) and fee
 * (a decimal string reported as the one entry of `fees`, in the reported currency).
 */
const faultRuleSchema = z.strictObject({
  pattern: faultPatternSchema,
  fault: z
    .enum(['none', 'fail', 'pending-forever', 'timeout-after-create', 'error-503-after-create', 'lost-callback', 'duplicate-callback', 'out-of-order-callback', 'delay-callback', 'insufficient-float', 'reverse-after-success'])
    .default('none'),
  errorCode: z.enum(documentedCodes).optional(),
  holdMs: faultDelaySchema.optional(),
  delayMs: faultDelaySchema.optional(),
  reportAmount: specAmountSchema.optional(),
  reportCurrency: reportCurrencySchema.optional(),
  reportReceiver: reportReceiverSchema.optional(),
  reportReceipt: reportReceiptSchemaOf('A-Za-z0-9-').optional(),
  fee: specAmountSchema.optional(),
});
/**
 * What a provider batch meets, when any of its items' creditParty msisdn matches `pattern`:
 * refuse (400 with `errorCode`, nothing created); reject (202, then the batch's request fails
 * whole with `errorCode`: nothing runs); stays-created (it never leaves `created`: an approval is
 * accepted but never takes effect, and a one-step batch waits for one all the same);
 * timeout-after-create (it is created and runs, the answer is held `holdMs`); error-503-after-create
 * (it is created and runs, the answer is 503); lost-callback, duplicate-callback, out-of-order-callback (a stale `created` after the final one), delay-callback
 * (`delayMs`) for the batch's callbacks. Items meet their own rules besides (fail and
 * insufficient-float reject the item; pending-forever leaves it unfinished, so the batch is partly
 * completed and stays `approved`).
 */
const batchFaultRuleSchema = z.strictObject({
  pattern: faultPatternSchema,
  fault: z.enum(['refuse', 'reject', 'stays-created', 'timeout-after-create', 'error-503-after-create', 'lost-callback', 'duplicate-callback', 'out-of-order-callback', 'delay-callback']),
  errorCode: z.enum(documentedCodes).optional(),
  holdMs: faultDelaySchema.optional(),
  delayMs: faultDelaySchema.optional(),
});
/** latencyMs: added to every create answer; batchRules: what provider batches meet. */
export const gsmaFaultsSchema = faultsSchemaOf(faultRuleSchema).extend({ batchRules: z.array(batchFaultRuleSchema).max(faultRulesMax).default([]) });
export type GsmaFaults = z.input<typeof gsmaFaultsSchema>;
type ParsedFaults = z.output<typeof gsmaFaultsSchema>;
type FaultRule = ParsedFaults['rules'][number];

interface Party {
  readonly key: string;
  readonly value: string;
}

interface Disbursement {
  readonly correlationId: string;
  readonly serverCorrelationId: string;
  readonly transactionReference: string;
  readonly receipt: string;
  readonly amount: string;
  readonly currency: string;
  readonly creditParty: readonly Party[];
  readonly debitParty: readonly Party[];
  readonly msisdn: string;
  readonly requestReference: string | null;
  /** The request's requestDate when it sent a date-time; null otherwise. */
  readonly requestDate: string | null;
  /** Its place in the order requests came in: breaks ties of creationDate in statement entries. */
  readonly sequence: number;
  readonly callbackUrl: string | null;
  /** What its Transaction says (a rule's report* knobs and fee; null: the truth, no fee). */
  readonly reported: { readonly amount: string | null; readonly currency: string | null; readonly receiver: string | null; readonly reference: string | null; readonly fee: string | null };
  readonly createdAt: Date;
  status: 'pending' | 'completed' | 'failed' | 'reversed';
  errorCode: string | null;
  completedAt: Date | null;
  reversedAt: Date | null;
  /** The reversal's own transactionReference and receipt (its statement entry's); null while it stands. */
  reversal: { readonly reference: string; readonly receipt: string } | null;
  executions: number;
}

export interface GsmaStatementLine {
  readonly transactionReference: string;
  readonly correlationId: string;
  readonly amount: string;
  readonly currency: string;
  /** reversed: a reversal of an earlier completed line (its amount negative). */
  readonly status: 'completed' | 'failed' | 'reversed';
  /** The receiving number, all but its last three digits masked. */
  readonly msisdn: string;
  readonly completedAt: string;
}

/** executions() is keyed by X-CorrelationID; drained() also waits for pending completions. */
export type GsmaSimulator = ProviderSimulator<GsmaFaults, GsmaStatementLine>;

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An ErrorObject. Its description is spelled errorDescription (the portal) or errordescription
 * (the OAS), chosen by the hash of `spellingKey` (the request's X-CorrelationID where there is
 * one), as providers differ.
 */
const errorObject = (category: Category, code: string, description: string, parameters: readonly Party[] = [], spellingKey = `${code}:${description}`) => ({
  errorCategory: category,
  errorCode: code,
  ...(picksSecondShape('gsma-errordescription', spellingKey) ? { errordescription: description } : { errorDescription: description }),
  errorDateTime: new Date().toISOString(),
  ...(parameters.length > 0 ? { errorParameters: parameters } : {}),
});
const sendError = (res: Response, category: Category, code: string, description: string, parameters: readonly Party[] = [], spellingKey?: string) =>
  res.status(httpStatusOf[category]).json(errorObject(category, code, description, parameters, spellingKey));

export function createGsmaSimulator(options: GsmaSimulatorOptions): GsmaSimulator {
  const log = options.logger.child({ component: 'simulator', provider: 'gsma' });
  const mode = options.mode ?? 'async';
  const tokens = new Map<string, number>();
  const byCorrelation = new Map<string, Disbursement>();
  const byServerCorrelation = new Map<string, Disbursement>();
  const byReference = new Map<string, Disbursement>();
  const tasks = createSimulatorTasks();
  const batches = new Map<string, Batch>();
  /** Batch requests (create and approve) by X-CorrelationID, and by serverCorrelationId. */
  const batchRequests = new Map<string, BatchRequest>();
  const batchByServerCorrelation = new Map<string, BatchRequest>();
  /** Executions of batch items, by requestingOrganisationTransactionReference (lower-case). */
  const itemExecutions = new Map<string, number>();
  /** Batch items that ran, as transactions, by transactionReference. */
  const itemTransactions = new Map<string, Disbursement>();
  const held = new Set<Response>();
  let sequence = 0;
  let faults: ParsedFaults = gsmaFaultsSchema.parse({});
  const ruleFor = (msisdn: string): FaultRule | undefined => faults.rules.find((r) => new RegExp(r.pattern).test(msisdn));
  const { later } = tasks;

  const router = express.Router();

  router.post('/oauth/accesstoken', express.urlencoded({ extended: false, limit: '4kb' }), (req, res) => {
    const expected = `Basic ${Buffer.from(`${options.consumerKey}:${options.consumerSecret}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return sendError(res, 'authorisation', 'clientAuthorisationError', 'Client authentication failed.');
    if ((req.body as Record<string, unknown> | undefined)?.grant_type !== 'client_credentials') return sendError(res, 'validation', 'formatError', 'grant_type must be client_credentials.');
    if (tokens.size >= gsmaSimulatorTokensMax) tokens.delete(tokens.keys().next().value as string);
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, Date.now() + tokenTtlS * 1000);
    return res.json({ access_token: token, token_type: 'Bearer', expires_in: String(tokenTtlS) });
  });

  /**
   * Bearer token and, when configured, X-API-Key and X-Client-Id (401 when wrong), and X-Date in
   * the insisted-on form and fresh (400 when missing or not); answers itself when refusing.
   */
  const authorised = (req: Request, res: Response): boolean => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expiry = token ? tokens.get(token) : undefined;
    if (
      !expiry ||
      expiry < Date.now() ||
      (options.apiKey !== undefined && req.headers['x-api-key'] !== options.apiKey) ||
      (options.clientId !== undefined && req.headers['x-client-id'] !== options.clientId)
    ) {
      sendError(res, 'authorisation', 'clientAuthorisationError', 'Client authentication failed.');
      return false;
    }
    if (options.requireDate) {
      const date = req.headers['x-date'];
      if (typeof date !== 'string' || date.length === 0) {
        sendError(res, 'validation', 'mandatoryValueNotSupplied', 'X-Date is required.', [{ key: 'X-Date', value: '' }]);
        return false;
      }
      const form = options.requireDate === 'date-time' ? dateTimePattern : httpDatePattern;
      const at = form.test(date) ? Date.parse(date) : NaN;
      if (!Number.isFinite(at) || Math.abs(at - Date.now()) > gsmaSimulatorDateSkewMs) {
        sendError(res, 'validation', 'formatError', `X-Date must be a current ${options.requireDate === 'date-time' ? 'RFC 3339 date-time' : 'RFC 7231 HTTP-date'}.`, [{ key: 'X-Date', value: date.slice(0, 64) }]);
        return false;
      }
    }
    return true;
  };

  router.get('/heartbeat', (_req, res) => res.json({ serviceStatus: 'available' }));

  const servesPath = options.disbursementForm !== 'type-in-body';
  const servesBody = options.disbursementForm !== 'type-in-path';
  const notServed = (res: Response) => sendError(res, 'identification', 'identifierError', 'This provider does not serve this path.');
  router.post('/transactions/type/:transactionType', express.json({ limit: '16kb' }), (req: Request, res: Response) => {
    if (!servesPath) return notServed(res);
    if (!authorised(req, res)) return;
    if (req.params.transactionType !== 'disbursement') return sendError(res, 'businessRule', 'transactionTypeError', 'Only disbursements are served.');
    const body = req.body as Record<string, unknown> | undefined;
    // In this form the type is the path's; one in the body must agree.
    if (body && typeof body === 'object' && body.type !== undefined && body.type !== 'disbursement') return sendError(res, 'businessRule', 'transactionTypeError', 'The body type disagrees with the path.');
    return createDisbursement(req, res);
  });
  router.post('/transactions', express.json({ limit: '16kb' }), (req: Request, res: Response) => {
    if (!servesBody) return notServed(res);
    if (!authorised(req, res)) return;
    const body = req.body as Record<string, unknown> | undefined;
    const type = body && typeof body === 'object' && !Array.isArray(body) ? body.type : undefined;
    if (type === undefined) return sendError(res, 'validation', 'mandatoryValueNotSupplied', 'type is required.', [{ key: 'field', value: 'type' }]);
    if (type !== 'disbursement') return sendError(res, 'businessRule', 'transactionTypeError', 'Only disbursements are served.');
    return createDisbursement(req, res);
  });

  function createDisbursement(req: Request, res: Response) {
    const correlationId = req.headers['x-correlationid'];
    if (typeof correlationId !== 'string' || correlationId.length === 0) return sendError(res, 'validation', 'mandatoryValueNotSupplied', 'X-CorrelationID is required.', [{ key: 'X-CorrelationID', value: '' }]);
    if (!uuid.test(correlationId)) return sendError(res, 'validation', 'formatError', 'X-CorrelationID must be a UUID.', [{ key: 'X-CorrelationID', value: correlationId.slice(0, 64) }]);
    // "A POST request that is submitted with a correlation ID that has already been supplied will be rejected as unsafe."
    if (byCorrelation.has(correlationId.toLowerCase())) return sendError(res, 'businessRule', 'duplicateRequest', 'The request has previously been processed.');
    const invalid = validateTransaction(req.body);
    if (invalid) return sendError(res, categoryOf(invalid.code), invalid.code, `Invalid ${invalid.field}.`, [{ key: 'field', value: invalid.field }]);
    const callbackHeader = req.headers['x-callback-url'];
    let callbackUrl: string | null = null;
    if (typeof callbackHeader === 'string') {
      try {
        callbackUrl = new URL(callbackHeader).toString();
      } catch {
        return sendError(res, 'validation', 'formatError', 'X-Callback-URL must be a URL.');
      }
    }
    if (byCorrelation.size >= gsmaSimulatorRequestsMax) return sendError(res, 'serviceUnavailable', 'genericError', 'The simulator is full.');

    const b = req.body as { amount: string; currency: string; creditParty: Party[]; debitParty: Party[]; requestingOrganisationTransactionReference?: string; requestDate?: unknown };
    const msisdn = b.creditParty.find((p) => p.key === 'msisdn')?.value ?? b.creditParty[0]!.value;
    const rule = ruleFor(msisdn);
    const failureCode = rule?.fault === 'fail' ? (rule.errorCode ?? 'genericError') : rule?.fault === 'insufficient-float' ? 'insufficientFunds' : null;
    const d: Disbursement = {
      correlationId: correlationId.toLowerCase(),
      serverCorrelationId: randomUUID(),
      transactionReference: randomUUID(),
      receipt: randomBytes(5).toString('hex').toUpperCase(),
      amount: b.amount,
      currency: b.currency,
      creditParty: b.creditParty.map((p) => ({ key: p.key, value: p.value })),
      debitParty: b.debitParty.map((p) => ({ key: p.key, value: p.value })),
      msisdn,
      requestReference: b.requestingOrganisationTransactionReference ?? null,
      requestDate: typeof b.requestDate === 'string' && dateTimePattern.test(b.requestDate) && Number.isFinite(Date.parse(b.requestDate)) ? new Date(b.requestDate).toISOString() : null,
      sequence: ++sequence,
      callbackUrl,
      reported: { amount: rule?.reportAmount ?? null, currency: rule?.reportCurrency ?? null, receiver: rule?.reportReceiver ?? null, reference: rule?.reportReceipt ?? null, fee: rule?.fee ?? null },
      createdAt: new Date(),
      status: 'pending',
      errorCode: null,
      completedAt: null,
      reversedAt: null,
      reversal: null,
      executions: 1,
    };
    byCorrelation.set(d.correlationId, d);
    byServerCorrelation.set(d.serverCorrelationId, d);
    byReference.set(d.transactionReference, d);

    const answer = (send: () => void) => (faults.latencyMs > 0 ? later(faults.latencyMs, send) : send());
    let reply: () => void;
    if (mode === 'sync' && rule?.fault !== 'pending-forever') {
      finish(d, failureCode);
      reply = () =>
        d.status === 'completed'
          ? res.status(201).json(transactionOf(d))
          : sendError(res, categoryOf(d.errorCode ?? 'genericError'), d.errorCode ?? 'genericError', 'The disbursement failed.', [], d.correlationId);
    } else {
      if (rule?.fault !== 'pending-forever') {
        later(options.callbackDelayMs, () => {
          finish(d, failureCode);
          scheduleCallbacks(d, rule);
        });
      }
      reply = () => res.status(202).json(requestStateOf(d, 'pending'));
    }
    if (rule?.fault === 'error-503-after-create') return answer(() => sendError(res, 'serviceUnavailable', 'genericError', 'The service is not currently available.'));
    if (rule?.fault === 'timeout-after-create') {
      held.add(res);
      return later(rule.holdMs ?? faultDelayMaxMs, () => {
        held.delete(res);
        if (!res.headersSent && !res.destroyed) reply();
      });
    }
    return answer(reply);
  }

  router.get('/requeststates/:serverCorrelationId', (req, res) => {
    if (!authorised(req, res)) return;
    const d = byServerCorrelation.get(req.params.serverCorrelationId);
    const batchRequest = d ? undefined : batchByServerCorrelation.get(req.params.serverCorrelationId);
    if (batchRequest) {
      const status = batchRequest.kind === 'create' ? batchRequest.batch.requestStatus : batchRequest.status ?? 'pending';
      return res.json(batchRequestStateOf(batchRequest.batch, status, batchRequest.serverCorrelationId));
    }
    if (!d) return sendError(res, 'identification', 'identifierError', 'No request state with this serverCorrelationId.');
    // A request state is pending, completed or failed: a transaction reversed later was still completed as a request.
    return res.json(requestStateOf(d, d.status === 'reversed' ? 'completed' : d.status));
  });

  router.get('/transactions/:transactionReference', (req, res) => {
    if (!authorised(req, res)) return;
    const d = byReference.get(req.params.transactionReference);
    if (!d) return sendError(res, 'identification', 'identifierError', 'No transaction with this reference.');
    return res.json(transactionOf(d));
  });

  router.get('/responses/:clientCorrelationId', (req, res) => {
    if (!authorised(req, res)) return;
    const d = byCorrelation.get(req.params.clientCorrelationId.toLowerCase());
    const batchRequest = d ? undefined : batchRequests.get(req.params.clientCorrelationId.toLowerCase());
    if (batchRequest) return res.json({ link: `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}/batchtransactions/${batchRequest.batch.batchId}` });
    if (!d) return sendError(res, 'identification', 'identifierError', 'No resource was created for this correlation id.');
    return res.json({ link: `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}/transactions/${d.transactionReference}` });
  });

  // The Account Statement Entries API: the entries of one account, newest first (by creationDate),
  // paged by limit/offset, filtered by fromDateTime/toDateTime (on creationDate, both inclusive),
  // transactionStatus and displayType; X-Records-Available-Count says how many match in all.
  router.get('/accounts/:identifierType/:identifier/statemententries', (req, res) => {
    if (!authorised(req, res)) return;
    const query = readEntriesQuery(req.query);
    if ('error' in query) return sendError(res, 'validation', query.error.code, query.error.description, [{ key: query.error.field, value: query.error.value.slice(0, 64) }]);
    const account = { key: req.params.identifierType.toLowerCase(), value: req.params.identifier };
    const holds = (parties: readonly Party[]) => parties.some((p) => p.key.toLowerCase() === account.key && p.value === account.value);
    let known = holds(options.accounts ?? []);
    const entries: StatementEntry[] = [];
    for (const d of executed()) {
      if (!holds(d.debitParty)) continue;
      known = true;
      if (d.status === 'pending' || !d.completedAt) continue;
      entries.push({ d, reversal: false, at: d.createdAt });
      if (d.reversal && d.reversedAt) entries.push({ d, reversal: true, at: d.reversedAt });
    }
    if (!known) return sendError(res, 'identification', 'identifierError', 'No account with this identifier.', [{ key: account.key, value: account.value.slice(0, 64) }]);
    const matching = entries
      .map((e) => ({ e, entry: statementEntryOf(e) }))
      .filter(({ e, entry }) =>
        (query.from === null || e.at.getTime() >= query.from) &&
        (query.to === null || e.at.getTime() <= query.to) &&
        (query.status === null || entry.transactionStatus === query.status) &&
        (query.displayType === null || entry.displayType === query.displayType),
      )
      // Newest first; one instant's entries by the order they happened in, newest first too.
      .sort((a, b) => b.e.at.getTime() - a.e.at.getTime() || orderOf(b.e) - orderOf(a.e));
    const page = matching.slice(query.offset, query.offset + query.limit).map(({ entry }) => entry);
    res.setHeader('X-Records-Available-Count', String(matching.length));
    res.setHeader('X-Records-Returned-Count', String(page.length));
    return res.json(page);
  });

  // ---------- bulk: /batchtransactions ----------

  router.post('/batchtransactions', express.json({ limit: batchBodyLimit }), (req: Request, res: Response) => {
    if (!authorised(req, res)) return;
    const correlationId = req.headers['x-correlationid'];
    if (typeof correlationId !== 'string' || correlationId.length === 0) return sendError(res, 'validation', 'mandatoryValueNotSupplied', 'X-CorrelationID is required.', [{ key: 'X-CorrelationID', value: '' }]);
    if (!uuid.test(correlationId)) return sendError(res, 'validation', 'formatError', 'X-CorrelationID must be a UUID.', [{ key: 'X-CorrelationID', value: correlationId.slice(0, 64) }]);
    const key = correlationId.toLowerCase();
    if (byCorrelation.has(key) || batchRequests.has(key)) return sendError(res, 'businessRule', 'duplicateRequest', 'The request has previously been processed.');
    const b = req.body as Record<string, unknown> | undefined;
    if (!b || typeof b !== 'object' || Array.isArray(b)) return sendError(res, 'validation', 'mandatoryValueNotSupplied', 'Invalid body.', [{ key: 'field', value: 'body' }]);
    const transactions = b.transactions;
    if (!Array.isArray(transactions) || transactions.length === 0) return sendError(res, 'validation', 'mandatoryValueNotSupplied', 'Invalid transactions.', [{ key: 'field', value: 'transactions' }]);
    if (transactions.length > gsmaSimulatorBatchItemsMax) return sendError(res, 'validation', 'lengthError', `At most ${gsmaSimulatorBatchItemsMax} transactions.`, [{ key: 'field', value: 'transactions' }]);
    for (const field of ['batchTitle', 'batchDescription'] as const) {
      const v = b[field];
      if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > 256)) return sendError(res, 'validation', 'lengthError', `Invalid ${field}.`, [{ key: 'field', value: field }]);
    }
    let callbackUrl: string | null = null;
    const callbackHeader = req.headers['x-callback-url'];
    if (typeof callbackHeader === 'string') {
      try {
        callbackUrl = new URL(callbackHeader).toString();
      } catch {
        return sendError(res, 'validation', 'formatError', 'X-Callback-URL must be a URL.');
      }
    }
    if (batches.size >= gsmaSimulatorRequestsMax) return sendError(res, 'serviceUnavailable', 'genericError', 'The simulator is full.');
    // Parsing: an item that is not a valid disbursement is rejected (parsing failure), the rest go on.
    const items: BatchItem[] = transactions.map((t: unknown, index) => {
      const invalid = validateTransaction(t) ?? ((t as Record<string, unknown>).type !== undefined && (t as Record<string, unknown>).type !== 'disbursement' ? { field: 'type', code: 'transactionTypeError' } : null);
      const tx = (t && typeof t === 'object' ? t : {}) as Record<string, unknown>;
      const credit = Array.isArray(tx.creditParty) ? (tx.creditParty as Party[]) : [];
      const msisdn = typeof credit.find((p) => p?.key === 'msisdn')?.value === 'string' ? credit.find((p) => p.key === 'msisdn')!.value : '';
      const reference = typeof tx.requestingOrganisationTransactionReference === 'string' && tx.requestingOrganisationTransactionReference.length <= 256 && tx.requestingOrganisationTransactionReference.length > 0 ? tx.requestingOrganisationTransactionReference : null;
      return {
        index,
        transactionReference: randomUUID(),
        requestReference: reference,
        amount: typeof tx.amount === 'string' ? tx.amount : '',
        currency: typeof tx.currency === 'string' ? tx.currency : '',
        creditParty: invalid ? [] : credit.map((p) => ({ key: p.key, value: p.value })),
        debitParty: invalid ? [] : (tx.debitParty as Party[]).map((p) => ({ key: p.key, value: p.value })),
        msisdn,
        rule: invalid ? undefined : ruleFor(msisdn),
        state: invalid ? 'rejected' : 'pending',
        rejectionReason: invalid ? invalid.code : null,
        at: invalid ? new Date() : null,
      } satisfies BatchItem;
    });
    const rule = faults.batchRules.find((r) => items.some((i) => i.msisdn && new RegExp(r.pattern).test(i.msisdn)));
    if (rule?.fault === 'refuse') {
      const code = rule.errorCode ?? 'genericError';
      return sendError(res, categoryOf(code), code, 'The batch was refused.', [], key);
    }
    const batch: Batch = {
      batchId: randomUUID(),
      correlationId: key,
      serverCorrelationId: randomUUID(),
      title: typeof b.batchTitle === 'string' ? b.batchTitle : null,
      description: typeof b.batchDescription === 'string' ? b.batchDescription : null,
      status: 'created',
      requestStatus: 'pending',
      errorCode: null,
      items,
      callbackUrl,
      rule,
      createdAt: new Date(),
      approvedAt: null,
      completedAt: null,
      parsed: false,
    };
    batches.set(batch.batchId, batch);
    batchRequests.set(key, { batch, serverCorrelationId: batch.serverCorrelationId, kind: 'create' });
    batchByServerCorrelation.set(batch.serverCorrelationId, { batch, serverCorrelationId: batch.serverCorrelationId, kind: 'create' });
    later(options.callbackDelayMs, () => {
      if (rule?.fault === 'reject') {
        batch.requestStatus = 'failed';
        batch.errorCode = rule.errorCode ?? 'genericError';
        for (const item of batch.items) if (item.state === 'pending') Object.assign(item, { state: 'rejected', rejectionReason: batch.errorCode, at: new Date() });
        scheduleBatchPut(batch, errorObject(categoryOf(batch.errorCode), batch.errorCode, 'The batch was rejected.', [], batch.correlationId));
        return;
      }
      batch.parsed = true;
      batch.requestStatus = 'completed';
      if ((options.bulkApproval ?? 'one-step') === 'one-step' && rule?.fault !== 'stays-created') runBatch(batch);
      scheduleBatchPut(batch, batchObjectOf(batch));
    });
    const reply = () => res.status(202).json(batchRequestStateOf(batch, 'pending', batch.serverCorrelationId));
    if (rule?.fault === 'error-503-after-create') return sendError(res, 'serviceUnavailable', 'genericError', 'The service is not currently available.');
    if (rule?.fault === 'timeout-after-create') {
      held.add(res);
      return later(rule.holdMs ?? faultDelayMaxMs, () => {
        held.delete(res);
        if (!res.headersSent && !res.destroyed) reply();
      });
    }
    return faults.latencyMs > 0 ? later(faults.latencyMs, reply) : reply();
  });

  // Approval (two-step): [{"op": "replace", "path": "/batchStatus", "value": "approved"}] (RFC 6902).
  router.patch('/batchtransactions/:batchId', express.json({ limit: '4kb' }), (req: Request, res: Response) => {
    if (!authorised(req, res)) return;
    const batch = batches.get(String(req.params.batchId));
    if (!batch) return sendError(res, 'identification', 'identifierError', 'No batch with this id.');
    const correlationId = req.headers['x-correlationid'];
    if (typeof correlationId !== 'string' || !uuid.test(correlationId)) return sendError(res, 'validation', correlationId === undefined ? 'mandatoryValueNotSupplied' : 'formatError', 'X-CorrelationID must be a UUID.');
    const key = correlationId.toLowerCase();
    if (byCorrelation.has(key) || batchRequests.has(key)) return sendError(res, 'businessRule', 'duplicateRequest', 'The request has previously been processed.');
    const ops = req.body as unknown;
    const op = Array.isArray(ops) && ops.length === 1 ? (ops[0] as Record<string, unknown> | null) : null;
    if (!op || op.op !== 'replace' || op.path !== '/batchStatus' || op.value !== 'approved') return sendError(res, 'validation', 'formatError', 'Only [{"op": "replace", "path": "/batchStatus", "value": "approved"}] is served.');
    if (!batch.parsed || batch.status !== 'created') return sendError(res, 'businessRule', 'incorrectState', `The batch is ${batch.requestStatus === 'failed' ? 'rejected' : batch.status}.`);
    const serverCorrelationId = randomUUID();
    const request = { batch, serverCorrelationId, kind: 'approve' as const, status: 'pending' as 'pending' | 'completed' };
    batchRequests.set(key, request);
    batchByServerCorrelation.set(serverCorrelationId, request);
    later(options.callbackDelayMs, () => {
      request.status = 'completed';
      // A batch that stays created: the approval is taken, and nothing comes of it.
      if (batch.rule?.fault === 'stays-created' || batch.status !== 'created') return;
      runBatch(batch);
      scheduleBatchPut(batch, batchObjectOf(batch));
    });
    return res.status(202).json(batchRequestStateOf(batch, 'pending', serverCorrelationId));
  });

  router.get('/batchtransactions/:batchId', (req, res) => {
    if (!authorised(req, res)) return;
    const batch = batches.get(req.params.batchId);
    if (!batch) return sendError(res, 'identification', 'identifierError', 'No batch with this id.');
    return res.json(batchObjectOf(batch));
  });

  for (const list of ['completions', 'rejections'] as const) {
    router.get(`/batchtransactions/:batchId/${list}`, (req, res) => {
      if (!authorised(req, res)) return;
      const batch = batches.get(String(req.params.batchId));
      if (!batch) return sendError(res, 'identification', 'identifierError', 'No batch with this id.');
      const query = readPageQuery(req.query);
      if ('error' in query) return sendError(res, 'validation', query.error.code, query.error.description, [{ key: query.error.field, value: query.error.value.slice(0, 64) }]);
      const matching = batch.items.filter((i) => i.state === (list === 'completions' ? 'completed' : 'rejected'));
      const page = matching.slice(query.offset, query.offset + query.limit).map((i) => (list === 'completions' ? completionOf(batch, i, req) : rejectionOf(i)));
      res.setHeader('X-Records-Available-Count', String(matching.length));
      res.setHeader('X-Records-Returned-Count', String(page.length));
      return res.json(page);
    });
  }

  // A body that is not JSON (or too large) is a validation error in GSMA's shape, not Express's HTML page.
  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const status = (error as { status?: unknown }).status;
    if (status === 413) return sendError(res, 'validation', 'lengthError', 'The request body is too large.');
    return sendError(res, 'validation', 'formatError', 'The request body is not valid JSON.');
  });

  /** Runs an approved (or one-step) batch: each item completes or is rejected by its own rule; pending-forever leaves it unfinished. */
  function runBatch(batch: Batch): void {
    batch.status = 'approved';
    batch.approvedAt = new Date();
    for (const item of batch.items) {
      if (item.state !== 'pending') continue;
      if (item.rule?.fault === 'pending-forever') continue;
      const code = item.rule?.fault === 'fail' ? (item.rule.errorCode ?? 'genericError') : item.rule?.fault === 'insufficient-float' ? 'insufficientFunds' : null;
      item.at = new Date();
      if (code) {
        item.state = 'rejected';
        item.rejectionReason = code;
      } else {
        item.state = 'completed';
        if (item.requestReference) itemExecutions.set(item.requestReference.toLowerCase(), (itemExecutions.get(item.requestReference.toLowerCase()) ?? 0) + 1);
      }
      // What ran is a transaction like any other: GET /transactions/{ref} (a completion's link), the statement and its entries have it.
      itemTransaction(batch, item, code);
    }
    if (batch.items.every((i) => i.state !== 'pending')) {
      batch.status = 'completed';
      batch.completedAt = new Date();
    }
  }

  /** A batch item that ran (or was refused while running) as a Disbursement: its correlation id is its reference (Tuma's attempt key). */
  function itemTransaction(batch: Batch, item: BatchItem, failureCode: string | null): void {
    const now = new Date();
    const d: Disbursement = {
      correlationId: (item.requestReference ?? item.transactionReference).toLowerCase(),
      serverCorrelationId: batch.serverCorrelationId,
      transactionReference: item.transactionReference,
      receipt: randomBytes(5).toString('hex').toUpperCase(),
      amount: item.amount,
      currency: item.currency,
      creditParty: item.creditParty,
      debitParty: item.debitParty,
      msisdn: item.msisdn,
      requestReference: item.requestReference,
      requestDate: null,
      sequence: ++sequence,
      callbackUrl: null,
      reported: { amount: item.rule?.reportAmount ?? null, currency: item.rule?.reportCurrency ?? null, receiver: item.rule?.reportReceiver ?? null, reference: item.rule?.reportReceipt ?? null, fee: item.rule?.fee ?? null },
      createdAt: batch.createdAt,
      status: failureCode ? 'failed' : 'completed',
      errorCode: failureCode,
      completedAt: now,
      reversedAt: null,
      reversal: null,
      executions: failureCode ? 0 : 1,
    };
    itemTransactions.set(d.transactionReference, d);
    byReference.set(d.transactionReference, d);
    // Completed, then taken back by the provider `delayMs` later: its transaction reads reversed and the statement has the reversal.
    if (!failureCode && item.rule?.fault === 'reverse-after-success') {
      later(item.rule.delayMs ?? 0, () => {
        d.status = 'reversed';
        d.reversedAt = new Date();
        d.reversal = { reference: randomUUID(), receipt: randomBytes(5).toString('hex').toUpperCase() };
      });
    }
  }

  /** Every disbursement that ran, single or in a batch, in the order they came. */
  const executed = (): Disbursement[] => [...byCorrelation.values(), ...itemTransactions.values()];

  function scheduleBatchPut(batch: Batch, body: unknown): void {
    if (!batch.callbackUrl || batch.rule?.fault === 'lost-callback') return;
    const delay = batch.rule?.fault === 'delay-callback' ? (batch.rule.delayMs ?? 0) : 0;
    const target = { callbackUrl: batch.callbackUrl, correlationId: batch.correlationId };
    // A stale update a slow path delivers after the current one: the batch as it was when created,
    // sent once the current one was delivered (two posts 5 ms apart may arrive either way round).
    const stale = batch.rule?.fault === 'out-of-order-callback' && (body as { batchStatus?: string }).batchStatus !== 'created'
      ? { ...(body as object), batchStatus: 'created', completedCount: 0, rejectionCount: 0, processingFlag: false }
      : null;
    later(delay, () => tasks.track(putCallback(target, body).then(() => {
      if (stale) later(5, () => tasks.track(putCallback(target, stale)));
    })));
    if (batch.rule?.fault === 'duplicate-callback') later(delay + 5, () => tasks.track(putCallback(target, body)));
  }

  /** The Batch Transaction object (callback, GET /batchtransactions/{id}). */
  function batchObjectOf(batch: Batch) {
    const completed = batch.items.filter((i) => i.state === 'completed').length;
    const rejected = batch.items.filter((i) => i.state === 'rejected').length;
    return {
      batchId: batch.batchId,
      batchStatus: batch.status,
      ...(batch.title ? { batchTitle: batch.title } : {}),
      ...(batch.description ? { batchDescription: batch.description } : {}),
      processingFlag: batch.status === 'approved',
      creationDate: batch.createdAt.toISOString(),
      ...(batch.approvedAt ? { approvalDate: batch.approvedAt.toISOString() } : {}),
      ...(batch.completedAt ? { completionDate: batch.completedAt.toISOString() } : {}),
      completedCount: completed,
      rejectionCount: rejected,
      parsingSuccessCount: batch.items.filter((i) => i.rejectionReason === null || !validationCodes.includes(i.rejectionReason)).length,
    };
  }

  function batchRequestStateOf(batch: Batch, status: 'pending' | 'completed' | 'failed', serverCorrelationId: string) {
    return {
      serverCorrelationId,
      status,
      notificationMethod: batch.callbackUrl ? 'callback' : 'polling',
      objectReference: batch.batchId,
      pollLimit,
      ...(status === 'failed' && batch.errorCode ? { error: errorObject(categoryOf(batch.errorCode), batch.errorCode, 'The batch was rejected.', [], batch.correlationId) } : {}),
    };
  }

  function completionOf(batch: Batch, item: BatchItem, req: Request) {
    // What the provider says it paid: a rule's reportReceiver lies here as in a transaction.
    const receiver = item.rule?.reportReceiver ?? null;
    const creditParty = receiver === null ? item.creditParty : item.creditParty.map((p) => (p.key === 'msisdn' ? { key: p.key, value: p.value.startsWith('+') && /^[1-9]/.test(receiver) ? `+${receiver}` : receiver } : p));
    return {
      transactionReference: item.transactionReference,
      ...(item.requestReference ? { requestingOrganisationTransactionReference: item.requestReference } : {}),
      creditParty,
      debitParty: item.debitParty,
      completionDate: (item.at ?? batch.createdAt).toISOString(),
      link: `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}/transactions/${item.transactionReference}`,
    };
  }

  function rejectionOf(item: BatchItem) {
    return {
      transactionReference: item.transactionReference,
      ...(item.requestReference ? { requestingOrganisationTransactionReference: item.requestReference } : {}),
      ...(item.creditParty.length > 0 ? { creditParty: item.creditParty } : {}),
      ...(item.debitParty.length > 0 ? { debitParty: item.debitParty } : {}),
      rejectionReason: item.rejectionReason ?? 'genericError',
      rejectionDate: (item.at ?? new Date()).toISOString(),
    };
  }

  function finish(d: Disbursement, failureCode: string | null): void {
    d.status = failureCode ? 'failed' : 'completed';
    d.errorCode = failureCode;
    d.completedAt = new Date();
  }

  function scheduleCallbacks(d: Disbursement, rule: FaultRule | undefined): void {
    if (!d.callbackUrl || rule?.fault === 'lost-callback') return;
    const final = d.status === 'completed' ? transactionOf(d) : errorObject(categoryOf(d.errorCode ?? 'genericError'), d.errorCode ?? 'genericError', 'The disbursement failed.', [], d.correlationId);
    const delay = rule?.fault === 'delay-callback' ? (rule.delayMs ?? 0) : 0;
    // The reversal comes `delayMs` after the final callback was delivered, never before it: a
    // provider reverses what it has reported completed.
    const reverse =
      rule?.fault === 'reverse-after-success' && d.status === 'completed'
        ? () =>
            later(rule.delayMs ?? 0, () => {
              d.status = 'reversed';
              d.reversedAt = new Date();
              d.reversal = { reference: randomUUID(), receipt: randomBytes(5).toString('hex').toUpperCase() };
              schedulePut(d, transactionOf(d), 0);
            })
        : undefined;
    schedulePut(d, final, delay, reverse);
    if (rule?.fault === 'duplicate-callback') schedulePut(d, final, delay + 5);
    // A stale update that a slow path delivers after the final one.
    if (rule?.fault === 'out-of-order-callback') schedulePut(d, { ...transactionOf(d), transactionStatus: 'pending' }, delay + 5);
  }

  /** PUTs `body` after `delayMs`; `afterDelivery` runs once it was delivered (or given up on). */
  function schedulePut(d: Disbursement, body: unknown, delayMs: number, afterDelivery?: () => void): void {
    later(delayMs, () => {
      tasks.track(putCallback(d, body).then(afterDelivery));
    });
  }

  async function putCallback(d: { readonly callbackUrl: string | null; readonly correlationId: string }, payload: unknown): Promise<void> {
    const body = JSON.stringify(payload);
    for (let attempt = 1; attempt <= callbackAttemptsMax && !tasks.closed; attempt++) {
      try {
        // One try when its turn comes, read to the end.
        const status = await tasks.post(d.callbackUrl!, {
          method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CorrelationID': d.correlationId, 'X-Date': new Date().toUTCString() }, body, timeoutMs: callbackTimeoutMs,
        });
        if (status === 204) return;
        log.warn({ status, attempt }, 'callback refused');
      } catch (error) {
        log.warn({ err: error instanceof Error ? error.name : 'error', attempt }, 'callback failed');
      }
      if (attempt < callbackAttemptsMax) await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }

  /** The Transaction of `d`, as its callback and GET /transactions report it. */
  function transactionOf(d: Disbursement) {
    const currency = d.reported.currency ?? d.currency;
    const receiver = d.reported.receiver;
    const creditParty = receiver === null ? d.creditParty : d.creditParty.map((p) => (p.key === 'msisdn' ? { key: p.key, value: p.value.startsWith('+') && /^[1-9]/.test(receiver) ? `+${receiver}` : receiver } : p));
    return {
      transactionReference: d.reported.reference ?? d.transactionReference,
      ...(d.requestReference ? { requestingOrganisationTransactionReference: d.requestReference } : {}),
      creditParty,
      debitParty: d.debitParty,
      type: 'disbursement',
      transactionStatus: d.status,
      amount: d.reported.amount ?? d.amount,
      currency,
      ...(d.reported.fee === null ? {} : { fees: [{ feeType: 'serviceFee', feeAmount: d.reported.fee, feeCurrency: currency }] }),
      ...(d.status === 'completed' || d.status === 'reversed' ? { transactionReceipt: d.receipt } : {}),
      creationDate: d.createdAt.toISOString(),
      modificationDate: (d.reversedAt ?? d.completedAt ?? d.createdAt).toISOString(),
    };
  }

  /**
   * A statement entry, as the GSMA Account Statement Entry object has it: the disbursement
   * (completed or failed; one reversed later is still its completed self) or its reversal (its own
   * reference and receipt, the money back from the payee to the account, `type` and `displayType`
   * reversal and the reversed transaction as `originalTransactionReference`, as the Transaction
   * object names it). The payee is only its msisdn, masked to its last three digits; the
   * description names no one.
   */
  function statementEntryOf({ d, reversal }: StatementEntry) {
    const payee = [{ key: 'msisdn', value: maskNumber(d.msisdn) }];
    if (reversal && d.reversal && d.reversedAt) {
      return {
        transactionReference: d.reversal.reference,
        creditParty: d.debitParty,
        debitParty: payee,
        transactionStatus: 'completed',
        amount: d.amount,
        currency: d.currency,
        descriptionText: 'Reversal of a disbursement',
        displayType: 'reversal',
        type: 'reversal',
        originalTransactionReference: d.transactionReference,
        transactionReceipt: d.reversal.receipt,
        creationDate: d.reversedAt.toISOString(),
        modificationDate: d.reversedAt.toISOString(),
        requestDate: d.reversedAt.toISOString(),
      };
    }
    const completed = d.status !== 'failed';
    return {
      transactionReference: d.transactionReference,
      creditParty: payee,
      debitParty: d.debitParty,
      transactionStatus: completed ? 'completed' : 'failed',
      amount: d.amount,
      currency: d.currency,
      descriptionText: 'Disbursement',
      displayType: 'disbursement',
      type: 'disbursement',
      ...(completed ? { transactionReceipt: d.receipt } : {}),
      creationDate: d.createdAt.toISOString(),
      modificationDate: (d.completedAt ?? d.createdAt).toISOString(),
      requestDate: d.requestDate ?? d.createdAt.toISOString(),
    };
  }

  function requestStateOf(d: Disbursement, status: Disbursement['status']) {
    return {
      serverCorrelationId: d.serverCorrelationId,
      status,
      notificationMethod: d.callbackUrl ? 'callback' : 'polling',
      objectReference: d.transactionReference,
      pollLimit,
      ...(status === 'failed' ? { error: errorObject(categoryOf(d.errorCode ?? 'genericError'), d.errorCode ?? 'genericError', 'The disbursement failed.', [], d.correlationId) } : {}),
    };
  }

  function statement(): GsmaStatementLine[] {
    const lines: GsmaStatementLine[] = [];
    for (const d of executed()) {
      if (lines.length >= statementLinesMax) break;
      if (d.status === 'pending' || !d.completedAt) continue;
      const line = {
        transactionReference: d.transactionReference,
        correlationId: d.correlationId,
        amount: fullScale(d.amount, d.currency),
        currency: d.currency,
        status: d.status === 'failed' ? ('failed' as const) : ('completed' as const),
        msisdn: maskNumber(d.msisdn),
        completedAt: d.completedAt.toISOString(),
      };
      lines.push(line);
      if (d.status === 'reversed' && d.reversedAt && lines.length < statementLinesMax) {
        lines.push({ ...line, amount: `-${line.amount}`, status: 'reversed', completedAt: d.reversedAt.toISOString() });
      }
    }
    return lines;
  }

  const controlRouter = express.Router();
  controlRouter.put('/faults', express.json({ limit: '64kb' }), (req, res) => {
    const parsed = gsmaFaultsSchema.safeParse(req.body);
    if (!parsed.success) return res.status(400).json({ error: 'invalid faults', problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) });
    faults = parsed.data;
    return res.json(faults);
  });
  controlRouter.get('/executions/:correlationId', (req, res) =>
    res.json({ correlationId: req.params.correlationId, executions: (byCorrelation.get(req.params.correlationId.toLowerCase())?.executions ?? 0) + (itemExecutions.get(req.params.correlationId.toLowerCase()) ?? 0) }),
  );
  controlRouter.get('/statement', (req, res) => {
    if (req.query.format !== undefined && req.query.format !== 'json' && req.query.format !== 'csv') return res.status(400).json({ error: 'format is json or csv' });
    const lines = statement();
    if (req.query.format === 'csv') return res.type('text/csv').send(toCsv(lines));
    return res.json(lines);
  });
  controlRouter.use((_error: unknown, _req: Request, res: Response, _next: NextFunction) => res.status(400).json({ error: 'invalid request' }));

  return {
    router,
    controlRouter,
    setFaults(next) {
      faults = gsmaFaultsSchema.parse(next);
    },
    statement,
    // A single disbursement by its X-CorrelationID; a batch item by its requestingOrganisationTransactionReference.
    executions: (key) => (byCorrelation.get(key.toLowerCase())?.executions ?? 0) + (itemExecutions.get(key.toLowerCase()) ?? 0),
    // Held answers wait on timers of their own (later): drained() waits for them too.
    drained: () => tasks.drained(),
    close() {
      tasks.close();
      // A held answer would keep its connection (and the server) open.
      for (const res of held) res.socket?.destroy();
      held.clear();
    },
  };
}

/** A statement entry: a disbursement, or its reversal, at its creationDate. */
interface StatementEntry {
  readonly d: Disbursement;
  readonly reversal: boolean;
  readonly at: Date;
}
/** A total order of entries of the same instant: a disbursement before its reversal, earlier requests first. */
const orderOf = (e: StatementEntry): number => e.d.sequence * 2 + (e.reversal ? 1 : 0);

/** An ISO 8601 date-time with seconds and a zone (RFC 3339). */
const dateTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

interface EntriesQuery {
  readonly limit: number;
  readonly offset: number;
  /** Milliseconds since the epoch; null: no bound. */
  readonly from: number | null;
  readonly to: number | null;
  readonly status: string | null;
  readonly displayType: string | null;
}

/** The statement entries' query: limit (1 to gsmaStatementEntriesLimitMax, default 50), offset, fromDateTime, toDateTime, transactionStatus, displayType. */
function readEntriesQuery(q: Record<string, unknown>): EntriesQuery | { error: { code: string; field: string; value: string; description: string } } {
  const problem = (code: string, field: string, value: unknown, description: string) => ({ error: { code, field, value: String(value), description } });
  for (const [field, value] of Object.entries(q)) if (typeof value !== 'string') return problem('formatError', field, '', `${field} must be given once.`);
  const text = (field: string) => q[field] as string | undefined;
  const limitText = text('limit');
  const limit = limitText === undefined ? gsmaStatementEntriesLimitDefault : /^[0-9]{1,7}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= gsmaStatementEntriesLimitMax)) return problem('formatError', 'limit', limitText, `limit must be an integer from 1 to ${gsmaStatementEntriesLimitMax}.`);
  const offsetText = text('offset');
  const offset = offsetText === undefined ? 0 : /^[0-9]{1,9}$/.test(offsetText) ? Number(offsetText) : NaN;
  if (!Number.isInteger(offset)) return problem('invalidOffset', 'offset', offsetText, 'offset must be a non-negative integer.');
  const instant = (field: string): number | null | undefined => {
    const v = text(field);
    if (v === undefined) return null;
    const ms = dateTimePattern.test(v) ? Date.parse(v) : NaN;
    return Number.isFinite(ms) ? ms : undefined;
  };
  const from = instant('fromDateTime');
  if (from === undefined) return problem('formatError', 'fromDateTime', text('fromDateTime'), 'fromDateTime must be a date-time.');
  const to = instant('toDateTime');
  if (to === undefined) return problem('formatError', 'toDateTime', text('toDateTime'), 'toDateTime must be a date-time.');
  for (const field of ['transactionStatus', 'displayType']) {
    const v = text(field);
    if (v !== undefined && (v.length === 0 || v.length > 256)) return problem('lengthError', field, v, `${field} must be 1 to 256 characters.`);
  }
  return { limit, offset, from, to, status: text('transactionStatus') ?? null, displayType: text('displayType') ?? null };
}

/** The first problem with a create-transaction body, as a GSMA validation code; null when valid. */
function validateTransaction(body: unknown): { field: string; code: string } | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { field: 'body', code: 'mandatoryValueNotSupplied' };
  const b = body as Record<string, unknown>;
  if (b.amount === undefined) return { field: 'amount', code: 'mandatoryValueNotSupplied' };
  if (typeof b.amount !== 'string' || !gsmaSpecAmountPattern.test(b.amount)) return { field: 'amount', code: typeof b.amount === 'string' && b.amount.startsWith('-') ? 'negativeValue' : 'formatError' };
  if (typeof b.currency !== 'string' || !/^[A-Z]{3}$/.test(b.currency)) return { field: 'currency', code: b.currency === undefined ? 'mandatoryValueNotSupplied' : 'formatError' };
  if (!iso4217.has(b.currency)) return { field: 'currency', code: 'currencyNotSupported' };
  // More decimals than the currency has (a fraction of a franc): no provider can move it.
  const decimals = b.amount.split('.')[1]?.length ?? 0;
  if (isCurrencyCode(b.currency) && decimals > scaleOf(b.currency)) return { field: 'amount', code: 'formatError' };
  // The pattern allows "0"; a disbursement of nothing is below any provider's minimum.
  if (b.amount === '0') return { field: 'amount', code: 'lessThanTransactionMinValue' };
  for (const field of ['creditParty', 'debitParty'] as const) {
    const parties = b[field];
    if (!Array.isArray(parties) || parties.length === 0) return { field, code: 'mandatoryValueNotSupplied' };
    if (parties.length > 10) return { field, code: 'lengthError' };
    for (const p of parties as unknown[]) {
      const party = p as Record<string, unknown> | null;
      if (!party || typeof party.key !== 'string' || typeof party.value !== 'string' || party.key.length === 0 || party.value.length === 0) return { field, code: 'formatError' };
      if (party.key.length > 256 || party.value.length > 256) return { field, code: 'lengthError' };
    }
  }
  const msisdn = (b.creditParty as Party[]).find((p) => p.key === 'msisdn');
  if (msisdn && !/^\+?[1-9][0-9]{6,14}$/.test(msisdn.value)) return { field: 'creditParty', code: 'formatError' };
  const reference = b.requestingOrganisationTransactionReference;
  if (reference !== undefined && (typeof reference !== 'string' || reference.length === 0 || reference.length > 256)) return { field: 'requestingOrganisationTransactionReference', code: 'lengthError' };
  return null;
}

const statementHeader = ['transactionReference', 'correlationId', 'amount', 'currency', 'status', 'msisdn', 'completedAt'] as const;
const toCsv = (lines: readonly GsmaStatementLine[]): string => statementCsv(statementHeader, lines);

/**
 * The control statement writes an amount with all its currency's decimals ("1500.00", "200"), as
 * a portal export does, whatever form the request carried it in ("1500"); the Statement Entries
 * API writes it as the specification does. A currency Tuma does not know keeps the request's form.
 */
function fullScale(amount: string, currency: string): string {
  if (!isCurrencyCode(currency)) return amount;
  const scale = scaleOf(currency);
  const [whole, fraction = ''] = amount.split('.');
  return scale === 0 ? whole! : `${whole}.${fraction.padEnd(scale, '0')}`;
}

type BatchRule = ParsedFaults['batchRules'][number];

interface BatchItem {
  readonly index: number;
  readonly transactionReference: string;
  readonly requestReference: string | null;
  readonly amount: string;
  readonly currency: string;
  readonly creditParty: readonly Party[];
  readonly debitParty: readonly Party[];
  readonly msisdn: string;
  readonly rule: FaultRule | undefined;
  state: 'pending' | 'completed' | 'rejected';
  rejectionReason: string | null;
  at: Date | null;
}

interface Batch {
  readonly batchId: string;
  readonly correlationId: string;
  readonly serverCorrelationId: string;
  readonly title: string | null;
  readonly description: string | null;
  /** created (parsed, awaiting approval in two-step), approved (running; partly completed while an item is unfinished), completed. */
  status: 'created' | 'approved' | 'completed';
  /** The create request's state: failed when the batch was rejected whole. */
  requestStatus: 'pending' | 'completed' | 'failed';
  errorCode: string | null;
  readonly items: BatchItem[];
  readonly callbackUrl: string | null;
  readonly rule: BatchRule | undefined;
  readonly createdAt: Date;
  approvedAt: Date | null;
  completedAt: Date | null;
  parsed: boolean;
}

interface BatchRequest {
  readonly batch: Batch;
  readonly serverCorrelationId: string;
  readonly kind: 'create' | 'approve';
  /** An approval's own state (a create request's is the batch's requestStatus). */
  status?: 'pending' | 'completed';
}

/** limit (1 to gsmaBatchPageLimitMax, default 50) and offset of a completions or rejections page. */
function readPageQuery(q: Record<string, unknown>): { limit: number; offset: number } | { error: { code: string; field: string; value: string; description: string } } {
  const problem = (code: string, field: string, value: unknown, description: string) => ({ error: { code, field, value: String(value), description } });
  for (const [field, value] of Object.entries(q)) if (typeof value !== 'string') return problem('formatError', field, '', `${field} must be given once.`);
  const limitText = q.limit as string | undefined;
  const limit = limitText === undefined ? gsmaStatementEntriesLimitDefault : /^[0-9]{1,7}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= gsmaBatchPageLimitMax)) return problem('formatError', 'limit', limitText, `limit must be an integer from 1 to ${gsmaBatchPageLimitMax}.`);
  const offsetText = q.offset as string | undefined;
  const offset = offsetText === undefined ? 0 : /^[0-9]{1,9}$/.test(offsetText) ? Number(offsetText) : NaN;
  if (!Number.isInteger(offset)) return problem('invalidOffset', 'offset', offsetText, 'offset must be a non-negative integer.');
  return { limit, offset };
}
