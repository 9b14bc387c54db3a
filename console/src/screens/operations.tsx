// Operations (administrators and auditors; issue #16 item 6). Queues: the organisation's payouts on
// their way, its dead-lettered payouts (administrators requeue them) and the orphan callbacks of its
// providers. Breakers: each provider account
// serving the organisation (GET /v1/operations/providers), whether an administrator holds it open,
// what each worker last reported of its own breaker, and the calls in flight each worker process
// last reported (every few seconds, to the database), with their age and their sum; a worker that
// stopped reporting is marked stale and left out of the sum. Each account's limit per worker too.
// Administrators hold an account open or close it by hand (PUT /v1/provider-accounts/{id}/breaker).
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, json, type DeadLetteredPage, type OrphanCallbacksPage, type ProviderOperationsView, type QueueDepthsView } from '../api';
import { count, dateTime, money, t } from '../i18n';
import { hasRole } from '../session';
import { errorText, errorWithDetail, escapeCloses, label, Status, useReturnFocus } from '../ui';

type Account = ProviderOperationsView['accounts'][number];

/** One line saying where the account's breaker stands, from the hold and the workers' reports. */
function breakerSummary(a: Account): string {
  if (a.hold === 'held_open') return t('ops.breaker.held');
  const open = a.reported.filter((r) => r.state === 'open').length;
  const probing = a.reported.filter((r) => r.state === 'half_open').length;
  if (open > 0) return t('ops.breaker.openIn', { open, workers: a.reported.length });
  if (probing > 0) return t('ops.breaker.probingIn', { probing, workers: a.reported.length });
  return t('ops.breaker.closed');
}

export function Breakers() {
  const [accounts, setAccounts] = useState<Account[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  // What the last change did, said at render time in the reader's language.
  const [done, setDone] = useState<(() => string) | null>(null);
  const [changing, setChanging] = useState<{ account: Account; state: 'open' | 'closed' } | null>(null);
  const admin = hasRole('admin');
  const load = async () => {
    try {
      setAccounts((await api<ProviderOperationsView>('GET', '/v1/operations/providers')).accounts);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, []);

  return (
    <>
      <h1 tabIndex={-1}>{t('ops.breakers.title')}</h1>
      <p class="hint">{t('ops.breakers.note')}</p>
      {error ? <Status kind="error">{error}</Status> : null}
      {done ? <Status kind="ok">{done()}</Status> : null}
      {accounts && accounts.length === 0 ? <p>{t('ops.breakers.none')}</p> : null}
      {accounts && accounts.length > 0 ? (
        <div class="scroll" tabIndex={0} role="region" aria-labelledby="breakers-caption">
          <table data-testid="breakers">
            <caption id="breakers-caption">{t('ops.breakers.caption', { count: accounts.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('ops.account')}</th>
                <th scope="col">{t('ops.provider')}</th>
                <th scope="col">{t('ops.market')}</th>
                <th scope="col">{t('ops.breaker')}</th>
                <th scope="col">{t('ops.workers')}</th>
                <th scope="col">{t('ops.inFlightMax')}</th>
                {admin ? <th scope="col">{t('ops.byHand')}</th> : null}
              </tr>
            </thead>
            <tbody>
              {accounts.map((a) => (
                <tr key={a.accountId} data-account={a.accountId}>
                  <th scope="row" class="key">{a.accountId}</th>
                  <td>{label('provider', a.provider)}</td>
                  <td>{a.country} · {a.currency}</td>
                  <td>
                    <strong class={a.hold === 'held_open' || a.reported.some((r) => r.state !== 'closed') ? 'warn' : undefined}>{breakerSummary(a)}</strong>
                    {a.lastChange ? (
                      <p class="hint">
                        {t(a.lastChange.state === 'open' ? 'ops.lastChange.open' : 'ops.lastChange.closed', { by: a.lastChange.setBy ?? t('ops.otherOrganisation'), at: dateTime(a.lastChange.at) })}
                        {' '}{t('ops.reason', { reason: a.lastChange.reason })}
                      </p>
                    ) : null}
                  </td>
                  <td>
                    {a.reported.length === 0 ? <span class="hint">{t('ops.workers.none')}</span> : (
                      <ul class="plain">
                        {a.reported.map((r) => (
                          <li key={r.process}>{t('ops.workers.report', { process: r.process, state: label('ops.state', r.state), cause: label('ops.cause', r.cause), at: dateTime(r.at) })}</li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td data-testid="in-flight">
                    {a.callsInFlight.workers.length === 0 ? (
                      <span class="hint">{t('ops.inFlight.none')}</span>
                    ) : (
                      <>
                        <strong>{t('ops.inFlight.total', { n: a.callsInFlight.total })}</strong>
                        <ul class="plain">
                          {a.callsInFlight.workers.map((w) => (
                            <li key={w.process} data-process={w.process} class={w.stale ? 'warn' : undefined}>
                              {t(w.stale ? 'ops.inFlight.workerStale' : 'ops.inFlight.worker', { process: w.process, n: count(w.count), age: count(Math.round(w.ageMs / 1000)) })}
                            </li>
                          ))}
                        </ul>
                      </>
                    )}
                    <span class="hint">{a.callLimits.concurrency === null ? t('ops.inFlight.unbounded') : t('ops.inFlight.atMost', { n: count(a.callLimits.concurrency) })}</span>
                  </td>
                  {admin ? (
                    <td>
                      {a.hold === 'held_open' ? (
                        <button type="button" class="nowrap" onClick={() => { setDone(null); setChanging({ account: a, state: 'closed' }); }}>{t('ops.close')}<span class="sr-only"> {a.accountId}</span></button>
                      ) : (
                        <button type="button" class="nowrap" onClick={() => { setDone(null); setChanging({ account: a, state: 'open' }); }}>{t('ops.hold')}<span class="sr-only"> {a.accountId}</span></button>
                      )}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {changing ? (
        <BreakerChange
          key={`${changing.account.accountId}-${changing.state}`}
          accountId={changing.account.accountId}
          state={changing.state}
          onCancel={() => setChanging(null)}
          onDone={(text: () => string) => {
            setChanging(null);
            setDone(() => text);
            void load();
          }}
        />
      ) : null}
    </>
  );
}

function BreakerChange(props: { accountId: string; state: 'open' | 'closed'; onCancel: () => void; onDone: (text: () => string) => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  // Focused in the same frame the form appears, so a key pressed as soon as it is seen lands in it.
  useLayoutEffect(() => heading.current?.focus(), []);
  // Closed, the focus goes back to the row's button (after a change, the row's new one).
  useReturnFocus(() => document.querySelector<HTMLElement>(`tr[data-account="${CSS.escape(props.accountId)}"] button`));
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ hold: string; replayed: boolean }>('PUT', `/v1/provider-accounts/${encodeURIComponent(props.accountId)}/breaker`, json({ state: props.state, reason: reason.trim() }));
      const key = r.hold === 'held_open' ? (r.replayed ? 'ops.done.alreadyHeld' : 'ops.done.held') : 'ops.done.closed';
      props.onDone(() => t(key, { account: props.accountId }));
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <form class="card decide" aria-labelledby="breaker-title" onSubmit={(e) => void submit(e)} onKeyDown={escapeCloses(props.onCancel)}>
      <h2 id="breaker-title" tabIndex={-1} ref={heading}>{t(props.state === 'open' ? 'ops.change.holdTitle' : 'ops.change.closeTitle', { account: props.accountId })}</h2>
      <p class="hint" id="breaker-help">{t(props.state === 'open' ? 'ops.change.holdHelp' : 'ops.change.closeHelp')}</p>
      <label for="breaker-reason">{t('ops.change.reason')}</label>
      <textarea id="breaker-reason" required maxLength={500} rows={2} aria-describedby="breaker-help" value={reason} onInput={(e) => setReason((e.currentTarget as HTMLTextAreaElement).value)} />
      <p class="row">
        <button type="submit" class="primary" disabled={busy || !reason.trim()}>{t(props.state === 'open' ? 'ops.change.hold' : 'ops.change.close')}</button>
        <button type="button" onClick={props.onCancel}>{t('common.cancel')}</button>
      </p>
      {error ? <Status kind="error">{error}</Status> : null}
    </form>
  );
}

// ---------------------------------------------------------------- queues

const stages = ['queued', 'retry_later', 'submitting', 'awaiting_outcome', 'dead_lettered'] as const;
const pageSize = 100;

/**
 * The organisation's payouts on their way by provider and stage (GET /v1/operations/queues), its
 * dead-lettered payouts with their requeue (administrators), and the orphan callbacks of its
 * providers. Nothing here names a beneficiary.
 */
export function Queues() {
  const [depths, setDepths] = useState<QueueDepthsView['depths'] | null>(null);
  const [dead, setDead] = useState<DeadLetteredPage['payouts']>([]);
  const [deadNext, setDeadNext] = useState<string | null>(null);
  const [orphans, setOrphans] = useState<OrphanCallbacksPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  // What the last requeue did, said at render time in the reader's language.
  const [done, setDone] = useState<{ kind: 'ok' | 'error'; text: () => string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const admin = hasRole('admin');

  const load = async () => {
    try {
      const [q, d, o] = await Promise.all([
        api<QueueDepthsView>('GET', '/v1/operations/queues'),
        api<DeadLetteredPage>('GET', `/v1/operations/dead-lettered?limit=${pageSize}`),
        api<OrphanCallbacksPage>('GET', `/v1/operations/orphan-callbacks?limit=${pageSize}`),
      ]);
      setDepths(q.depths);
      setDead(d.payouts);
      setDeadNext(d.next);
      setOrphans(o);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, []);
  const moreDead = async () => {
    if (!deadNext) return;
    try {
      const d = await api<DeadLetteredPage>('GET', `/v1/operations/dead-lettered?limit=${pageSize}&after=${encodeURIComponent(deadNext)}`);
      setDead((before) => [...before, ...d.payouts]);
      setDeadNext(d.next);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const moreOrphans = async () => {
    if (!orphans?.next) return;
    try {
      const o = await api<OrphanCallbacksPage>('GET', `/v1/operations/orphan-callbacks?limit=${pageSize}&after=${encodeURIComponent(orphans.next)}`);
      setOrphans({ ...o, orphans: [...orphans.orphans, ...o.orphans] });
    } catch (e) {
      setError(errorText(e));
    }
  };
  const requeue = async (payoutId: string, ref: string) => {
    setBusy(payoutId);
    setDone(null);
    try {
      const r = await api<{ outcome: string }>('POST', `/v1/payouts/${encodeURIComponent(payoutId)}/requeue`);
      const key = r.outcome === 'dispatch_republished' ? 'queues.requeued.dispatch' : 'queues.requeued.status';
      setDone({ kind: 'ok', text: () => t(key, { ref }) });
      await load();
    } catch (e) {
      // The server says why this payout is not requeued and what moves it instead.
      setDone({ kind: 'error', text: () => errorWithDetail(e) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      <h1 tabIndex={-1}>{t('queues.title')}</h1>
      <p class="hint">{t('queues.note')}</p>
      <p><button type="button" onClick={() => { setDone(null); void load(); }}>{t('queues.refresh')}</button></p>
      {error ? <Status kind="error">{error}</Status> : null}

      <h2>{t('queues.depths')}</h2>
      {depths && depths.length === 0 ? <p>{t('queues.depths.none')}</p> : null}
      {depths && depths.length > 0 ? (
        <div class="scroll" tabIndex={0} role="region" aria-labelledby="depths-caption">
          <table data-testid="queue-depths">
            <caption id="depths-caption">{t('queues.depths.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('ops.provider')}</th>
                <th scope="col">{t('queues.stage')}</th>
                <th scope="col" class="num">{t('queues.payouts')}</th>
                <th scope="col">{t('queues.oldest')}</th>
              </tr>
            </thead>
            <tbody>
              {[...depths].sort((x, y) => x.provider.localeCompare(y.provider) || stages.indexOf(x.stage) - stages.indexOf(y.stage)).map((d) => (
                <tr key={`${d.provider}-${d.stage}`} class={d.stage === 'dead_lettered' ? 'warn' : undefined}>
                  <th scope="row">{label('provider', d.provider)}</th>
                  <td>{label('queues.stage', d.stage)}</td>
                  <td class="num">{count(d.count)}</td>
                  <td>{dateTime(d.oldest)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <p class="hint">{t('queues.stages.help')}</p>

      <h2 id="dead-title">{t('queues.dead')}</h2>
      <p class="hint">{t(admin ? 'queues.dead.help' : 'queues.dead.helpAuditor')}</p>
      {done ? <Status kind={done.kind}>{done.text()}</Status> : null}
      {depths && dead.length === 0 ? <p>{t('queues.dead.none')}</p> : null}
      {dead.length > 0 ? (
        <div class="scroll" tabIndex={0} role="region" aria-labelledby="dead-caption">
          <table data-testid="dead-lettered">
            <caption id="dead-caption">{t('queues.dead.caption', { count: dead.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('queues.ref')}</th>
                <th scope="col">{t('queues.batch')}</th>
                <th scope="col">{t('ops.provider')}</th>
                <th scope="col">{t('queues.state')}</th>
                <th scope="col" class="num">{t('batch.amount')}</th>
                <th scope="col" class="num">{t('queues.attempts')}</th>
                <th scope="col">{t('queues.flaggedAt')}</th>
                {admin ? <th scope="col">{t('ops.byHand')}</th> : null}
              </tr>
            </thead>
            <tbody>
              {dead.map((p) => (
                <tr key={p.payoutId} data-payout={p.payoutId}>
                  <th scope="row">{p.ref}</th>
                  <td><a class="key nowrap" href={`#/batch/${encodeURIComponent(p.batchId)}`} title={p.batchId}>{p.batchId.slice(0, 8)}…</a></td>
                  <td>{label('provider', p.provider)}</td>
                  <td>{label('queues.deadState', p.state)}{p.failureCode ? <><br /><span class="hint">{p.failureCode}</span></> : null}</td>
                  <td class="num">{money(p.amount, p.currency)}</td>
                  <td class="num">{count(p.attempts)}</td>
                  <td>{dateTime(p.flaggedAt)}</td>
                  {admin ? (
                    <td>
                      <button type="button" class="nowrap" disabled={busy !== null} onClick={() => void requeue(p.payoutId, p.ref)}>
                        {t('queues.requeue')}<span class="sr-only"> {p.ref}</span>
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {deadNext ? <button type="button" onClick={() => void moreDead()}>{t('common.more')}</button> : null}

      <h2>{t('queues.orphans')}</h2>
      <p class="hint">{t('queues.orphans.help', { providers: orphans?.providers.map((p) => label('provider', p)).join(', ') || '—' })}</p>
      {orphans && orphans.orphans.length === 0 ? <p>{t('queues.orphans.none')}</p> : null}
      {orphans && orphans.orphans.length > 0 ? (
        <div class="scroll" tabIndex={0} role="region" aria-labelledby="orphans-caption">
          <table data-testid="orphans">
            <caption id="orphans-caption">{t('queues.orphans.caption', { count: orphans.orphans.length })}</caption>
            <thead>
              <tr>
                <th scope="col" class="num">{t('queues.orphan.id')}</th>
                <th scope="col">{t('ops.provider')}</th>
                <th scope="col">{t('queues.orphan.key')}</th>
                <th scope="col">{t('queues.orphan.authenticated')}</th>
                <th scope="col">{t('queues.orphan.receivedAt')}</th>
              </tr>
            </thead>
            <tbody>
              {orphans.orphans.map((o) => (
                <tr key={o.id}>
                  <th scope="row" class="num">{o.id}</th>
                  <td>{label('provider', o.provider)}</td>
                  <td class="key">{o.dedupeKey}</td>
                  <td>{t(o.authenticated ? 'queues.orphan.yes' : 'queues.orphan.no')}</td>
                  <td>{dateTime(o.receivedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {orphans?.next ? <button type="button" onClick={() => void moreOrphans()}>{t('common.more')}</button> : null}
    </>
  );
}
