// A batch's progress, live: its payouts by state and by provider and state, both from the one
// read of GET /v1/batches/{id} (the server counts them together, for a batch of any size).
import { useEffect, useState } from 'preact/hooks';
import { api, type BatchRejectionView, type BatchView } from '../api';
import { count, dateTime, money, t, time } from '../i18n';
import { errorText, label, stateName, Status } from '../ui';

const refreshSeconds = 3;
const finalStates = new Set(['completed', 'rejected', 'cancelled']);

export function Follow(props: { batchId: string | null }) {
  const [id, setId] = useState(props.batchId ?? '');
  const [view, setView] = useState<BatchView | null>(null);
  const [updated, setUpdated] = useState<Date | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Why a rejected batch was rejected (an approver's reason, or none when it expired).
  const [rejection, setRejection] = useState<BatchRejectionView | null>(null);

  useEffect(() => {
    if (!props.batchId) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const v = await api<BatchView>('GET', `/v1/batches/${encodeURIComponent(props.batchId!)}`);
        const why = v.state === 'rejected' ? await api<BatchRejectionView>('GET', `/v1/batches/${encodeURIComponent(v.batchId)}/rejection`) : null;
        if (stopped) return;
        setRejection(why);
        setView(v);
        setUpdated(new Date());
        setError(null);
        if (!finalStates.has(v.state)) timer = setTimeout(() => void tick(), refreshSeconds * 1000);
      } catch (e) {
        if (stopped) return;
        setError(errorText(e));
        timer = setTimeout(() => void tick(), refreshSeconds * 4000);
      }
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [props.batchId]);

  const states = view ? Object.entries(view.payouts) : [];
  return (
    <>
      <h1 tabIndex={-1}>{t('follow.title')}</h1>
      <form class="card row" onSubmit={(e) => { e.preventDefault(); location.hash = `#/batch/${id.trim().toLowerCase()}`; }}>
        <div>
          <label for="batch-id">{t('follow.id')}</label>
          <input id="batch-id" required pattern="[0-9a-fA-F-]{36}" size={38} value={id} onInput={(e) => setId((e.currentTarget as HTMLInputElement).value)} />
        </div>
        <button type="submit">{t('follow.open')}</button>
      </form>
      {error ? <Status kind="error">{error}</Status> : null}
      {view ? (
        <section class="card" aria-labelledby="batch-state">
          <h2 id="batch-state">
            {t('follow.stateIs')} <span data-testid="batch-state">{stateName(view.state)}</span>
          </h2>
          <dl class="facts">
            <dt>{t('follow.total')}</dt>
            <dd>{money(view.total, view.currency)}</dd>
            <dt>{t('follow.payouts')}</dt>
            <dd>{count(view.payoutCount)}</dd>
            <dt>{t('follow.received')}</dt>
            <dd>{dateTime(view.receivedAt)}</dd>
          </dl>
          <p>{t('follow.approvals', { received: count(view.approvals.received), required: count(view.approvals.required) })}</p>
          {view.rejectedRows.length > 0 ? <p>{t('follow.rejectedRows', { count: view.rejectedRows.length })}</p> : null}
          {view.state === 'rejected' && rejection ? (
            <p data-testid="rejection">
              {rejection.rejection
                ? t('follow.rejection', { by: rejection.rejection.rejectedBy, at: dateTime(rejection.rejection.rejectedAt), reason: rejection.rejection.reason })
                : t('follow.rejection.expired')}
            </p>
          ) : null}
          <table>
            <caption>{t('follow.byState')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('follow.state')}</th>
                <th scope="col" class="num">{t('batch.count')}</th>
                <th scope="col" class="num">{t('batch.amount')}</th>
                <th scope="col">{t('follow.progress')}</th>
              </tr>
            </thead>
            <tbody>
              {states.map(([state, v]) => (
                <tr key={state}>
                  <th scope="row">{stateName(state)}</th>
                  <td class="num">{count(v.count)}</td>
                  <td class="num">{money(v.amount, view.currency)}</td>
                  <td>
                    <progress max={view.payoutCount} value={v.count} aria-label={`${stateName(state)}: ${count(v.count)} / ${count(view.payoutCount)}`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <table data-testid="by-provider">
            <caption>{t('follow.byProvider')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('batch.provider')}</th>
                <th scope="col">{t('follow.state')}</th>
                <th scope="col" class="num">{t('batch.count')}</th>
                <th scope="col" class="num">{t('batch.amount')}</th>
                <th scope="col">{t('follow.progress')}</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(view.byProvider).flatMap(([provider, byState]) => {
                // Each state's share of the provider's own payouts.
                const ofProvider = Object.values(byState).reduce((n, v) => n + v.count, 0);
                return Object.entries(byState).map(([state, v]) => (
                  <tr key={`${provider}-${state}`}>
                    <th scope="row">{label('provider', provider)}</th>
                    <td>{stateName(state)}</td>
                    <td class="num">{count(v.count)}</td>
                    <td class="num">{money(v.amount, view.currency)}</td>
                    <td>
                      <progress max={ofProvider} value={v.count} aria-label={`${label('provider', provider)}, ${stateName(state)}: ${count(v.count)} / ${count(ofProvider)}`} />
                    </td>
                  </tr>
                ));
              })}
            </tbody>
          </table>
          <p class="hint" aria-live="off">
            {finalStates.has(view.state) ? t('follow.final') : updated ? t('follow.live', { time: time(updated), seconds: refreshSeconds }) : null}
          </p>
        </section>
      ) : null}
    </>
  );
}
