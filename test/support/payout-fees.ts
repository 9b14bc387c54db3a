// The fee a provider took for a paid payout, posted to the ledger as the settler posts it
// (domain/ledger-rules.ts payoutPaid): a `payout_fee` transfer from the provider's fees account to
// its float, naming the payout. Reconciliation reads a payout's ledger fee as the sum of these.
import { randomUUID } from 'node:crypto';
import type { Persistence } from '../../src/application/ports.js';
import type { CurrencyCode } from '../../src/domain/currency.js';
import { accounts, type TransferSpec } from '../../src/domain/ledger-rules.js';
import type { Scenario } from './fixtures.js';

/** Posts `feeMinor` as the ledger fee of `payoutId` (the organisation's float at `provider` must cover it). */
export async function postPayoutFee(
  persistence: Persistence,
  s: Pick<Scenario, 'organisationId'>,
  p: { readonly provider: string; readonly currency: CurrencyCode; readonly payoutId: string; readonly feeMinor: bigint },
): Promise<void> {
  const fee: TransferSpec = {
    id: randomUUID(),
    currency: p.currency,
    debit: accounts.providerFees(s.organisationId, p.provider),
    credit: accounts.providerFloat(s.organisationId, p.provider),
    amountMinor: p.feeMinor,
    code: 'payout_fee',
    batchId: null,
    payoutId: p.payoutId,
    reference: null,
  };
  const posted = await persistence.ledger.postJournal({ id: fee.id, currency: p.currency, transfers: [fee] });
  if (!posted.ok) throw new Error(`the fee was not posted: ${JSON.stringify(posted.error)}`);
}
