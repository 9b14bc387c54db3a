// A programme's policy: how many distinct approvers a batch needs as its total grows, which
// providers may pay, the largest single payout, and whether invalid rows sink the whole batch.
// Pure: parsing an administrator's input and answering "how many approvers for this total?".
import type { CurrencyCode } from './currency.js';
import { formatAmount, parseAmount } from './money.js';
import { isProviderId, type ProviderId } from './providers.js';
import { err, ok, type Result } from './result.js';

/** Distinct approvers a batch can require; the database holds the same bound. */
export const approversMax = 16;
/** Tiers a policy may have (the base tier at 0 included). */
export const approvalTiersMax = 8;
/** Providers one programme may enable. */
export const programmeProvidersMax = 16;

export type RowErrorsMode = 'reject_batch' | 'accept_valid_rows';

export interface ApprovalTier {
  /** The tier applies to batch totals from this amount (minor units) upwards. */
  readonly fromMinor: bigint;
  readonly approvers: number;
}

export interface ProgrammePolicy {
  /** Sorted by fromMinor, strictly increasing; the first starts at 0. */
  readonly tiers: readonly ApprovalTier[];
  readonly providers: readonly ProviderId[];
  readonly payoutMaxMinor: bigint | null;
  readonly rowErrors: RowErrorsMode;
}

/** The approvers a batch of `totalMinor` needs: the tier with the largest threshold at or below it. */
export function approversRequired(tiers: readonly ApprovalTier[], totalMinor: bigint): number {
  let required = 0;
  for (const t of tiers) if (t.fromMinor <= totalMinor) required = t.approvers;
  return required;
}

export function checkTiers(tiers: readonly ApprovalTier[]): string | null {
  if (tiers.length === 0 || tiers.length > approvalTiersMax) return `between 1 and ${approvalTiersMax} approval tiers`;
  if (tiers[0]!.fromMinor !== 0n) return 'the first approval tier starts at a total of 0';
  for (let i = 0; i < tiers.length; i++) {
    const t = tiers[i]!;
    if (!Number.isInteger(t.approvers) || t.approvers < 0 || t.approvers > approversMax) return `approvers is a whole number from 0 to ${approversMax}`;
    if (i > 0 && t.fromMinor <= tiers[i - 1]!.fromMinor) return 'approval tiers are in strictly increasing fromTotal order';
    // More money never needs fewer approvers: a lower tier cannot be a way around a higher one.
    if (i > 0 && t.approvers < tiers[i - 1]!.approvers) return 'a higher tier cannot need fewer approvers';
  }
  return null;
}

/** Parses the administrator's JSON (amounts as decimal strings in the programme currency). */
export function parsePolicy(input: unknown, currency: CurrencyCode): Result<ProgrammePolicy, string> {
  if (!input || typeof input !== 'object' || Array.isArray(input)) return err('expected a JSON object');
  const { approvals, providers, payoutMax, rowErrors, ...rest } = input as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) return err(`unknown member ${JSON.stringify(unknown).slice(0, 80)}`);

  if (!Array.isArray(approvals)) return err('approvals must be an array of {fromTotal, approvers}');
  if (approvals.length > approvalTiersMax) return err(`at most ${approvalTiersMax} approval tiers`);
  const tiers: ApprovalTier[] = [];
  for (const a of approvals as unknown[]) {
    if (!a || typeof a !== 'object' || Array.isArray(a)) return err('each approval tier is an object {fromTotal, approvers}');
    const { fromTotal, approvers, ...extra } = a as Record<string, unknown>;
    if (Object.keys(extra).length > 0) return err('an approval tier has only fromTotal and approvers');
    let fromMinor: bigint;
    if (fromTotal === '0') fromMinor = 0n;
    else {
      const parsed = parseAmount(fromTotal, currency);
      if (!parsed.ok) return err(`fromTotal ${JSON.stringify(fromTotal)?.slice(0, 40)}: ${parsed.error}`);
      fromMinor = parsed.value;
    }
    if (typeof approvers !== 'number') return err('approvers is a whole number');
    tiers.push({ fromMinor, approvers });
  }
  const tierProblem = checkTiers(tiers);
  if (tierProblem) return err(tierProblem);

  if (!Array.isArray(providers) || providers.length === 0 || providers.length > programmeProvidersMax) {
    return err(`providers is a list of 1 to ${programmeProvidersMax} provider ids`);
  }
  const enabled: ProviderId[] = [];
  for (const p of providers as unknown[]) {
    if (typeof p !== 'string' || !isProviderId(p)) return err(`unknown provider ${JSON.stringify(p)?.slice(0, 40)}`);
    if (enabled.includes(p)) return err(`provider ${p} is listed twice`);
    enabled.push(p);
  }

  let payoutMaxMinor: bigint | null = null;
  if (payoutMax !== null && payoutMax !== undefined) {
    const parsed = parseAmount(payoutMax, currency);
    if (!parsed.ok) return err(`payoutMax: ${parsed.error}`);
    payoutMaxMinor = parsed.value;
  }
  const mode = rowErrors ?? 'reject_batch';
  if (mode !== 'reject_batch' && mode !== 'accept_valid_rows') return err('rowErrors is reject_batch or accept_valid_rows');
  return ok({ tiers, providers: enabled, payoutMaxMinor, rowErrors: mode });
}

export function formatPolicy(policy: ProgrammePolicy, currency: CurrencyCode) {
  return {
    approvals: policy.tiers.map((t) => ({ fromTotal: t.fromMinor === 0n ? '0' : formatAmount(t.fromMinor, currency), approvers: t.approvers })),
    providers: [...policy.providers],
    payoutMax: policy.payoutMaxMinor === null ? null : formatAmount(policy.payoutMaxMinor, currency),
    rowErrors: policy.rowErrors,
  };
}
