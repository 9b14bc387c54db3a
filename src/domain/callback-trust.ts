// Trust by channel (issue #19 item 3, architecture §6): what a provider callback may do depends on
// how it proved where it came from, and on nothing else. This is the one place that decides it.
//
// - `url-token`: an unguessable token in the callback URL, bound to one attempt, one provider and
//   one route. It proves only that the sender once saw the URL (the provider does; so may a proxy
//   or a log reader). It may settle `paid` (at the payout's own amount: the callback's figures are
//   checked first) and may mark the outcome ambiguous (which only makes Tuma ask). A failure or a
//   reversal it reports moves no money: Tuma confirms it over a channel the sender does not hold
//   (a paid payout whose reversal is reported is asked about too: the poller's reversal check).
// - `status-token`: the answer to a status query Tuma itself sent, with its own credentials, to
//   the provider (M-Pesa answers asynchronously): a fresh token minted for that one query, valid
//   on the status route alone, given only to the provider inside our authenticated request. A
//   failure it reports is the confirmation.
// - `signed`: a signature over the raw body under a secret shared with the provider (Airtel hmac).
// - `unauthenticated`: anyone could have sent it; it only makes the payout's status query due.

/** What a callback reports, in Tuma's words (pending and unknown answers are `ambiguous`). */
export type ReportedOutcome = 'paid' | 'failed' | 'ambiguous' | 'reversed';

export type CallbackChannel = 'url-token' | 'status-token' | 'signed' | 'unauthenticated';

/**
 * settle: the reported outcome goes to the settler (a paid one after its figures are checked
 * against the payout). confirm: stored as evidence only; the payout's status query is made due
 * now, and the answer to that query decides. Never a release and never a new key on `confirm`.
 */
export type CallbackVerdict = 'settle' | 'confirm';

/** What a callback reporting `outcome` over `channel` may do. */
export function callbackVerdict(channel: CallbackChannel, outcome: ReportedOutcome): CallbackVerdict {
  switch (channel) {
    case 'signed':
    case 'status-token':
      return 'settle';
    case 'url-token':
      return outcome === 'paid' || outcome === 'ambiguous' ? 'settle' : 'confirm';
    case 'unauthenticated':
      return 'confirm';
  }
}
