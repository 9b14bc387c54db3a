// A GSMA provider batch's callback (issue #20 item 3): the provider PUTs the Batch Transaction to
// the X-Callback-URL Tuma gave when it created the batch, `/v1/callbacks/gsma/batch/<batch key>`.
// The batch key (a random UUID, the batch's X-CorrelationID) names the batch; the body is not
// trusted and moves nothing: the callback only makes the status queries of the batch's items due
// now, and each item's outcome is then read from the batch's completions and rejections over
// Tuma's own authenticated connection, settling its payout as a single payment's answer does.
// The key is the callback's credential, as a per-attempt token is: a key of no batch Tuma sent is
// CALLBACK_UNAUTHENTICATED, like an unknown token.
import { reject, type Rejection } from '../domain/errors.js';
import { err, ok, type Result } from '../domain/result.js';
import type { Persistence } from './ports.js';

const batchKeyPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** How many of the batch's payouts were asked about again (those still awaiting an answer are made due). */
export async function gsmaBatchCallback(deps: { persistence: Persistence; now: () => Date }, batchKey: string): Promise<Result<{ payouts: number }, Rejection>> {
  const key = batchKey.toLowerCase();
  if (!batchKeyPattern.test(key)) return err(reject('CALLBACK_UNAUTHENTICATED'));
  const payouts = await deps.persistence.read.payouts.payoutsOfProviderBatch(key);
  if (payouts === null) return err(reject('CALLBACK_UNAUTHENTICATED'));
  await deps.persistence.read.payouts.makeStatusChecksDue(payouts, deps.now());
  return ok({ payouts: payouts.length });
}
