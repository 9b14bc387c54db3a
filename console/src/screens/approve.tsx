// The approver's screen: the batch document the maker gave (the exact signed bytes), checked
// against the server's batch; its totals and amounts per provider, flagged duplicates, approvals
// needed and given; approve, or reject with a reason, by signing the same bytes in this browser.
import { useRef, useState } from 'preact/hooks';
import { api, type BatchView, type PolicyView, type ProviderAccountsView } from '../api';
import { programmeRules, readBatchFile } from '../batch';
import { signApproval, signRejection } from '../keys';
import { count, money, t } from '../i18n';
import { AmountsTable, errorText, FileDrop, Modal, stateName, Status } from '../ui';
import { MyKey, useMyKey } from './my-key';

type Loaded = { name: string; bytes: Uint8Array; view: BatchView; summary: Extract<ReturnType<typeof readBatchFile>, { ok: true }> };

export function Approve() {
  const keyState = useMyKey('approver');
  const [key] = keyState;
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [rejecting, setRejecting] = useState(false);
  const summaryHeading = useRef<HTMLHeadingElement>(null);

  const open = async (name: string, bytes: Uint8Array) => {
    setStatus(null);
    setLoaded(null);
    const first = readBatchFile(bytes, null);
    if (!first.ok) {
      setStatus({ kind: 'error', text: t('approve.mismatch', { reason: name }) });
      return;
    }
    try {
      const view = await api<BatchView>('GET', `/v1/batches/${encodeURIComponent(first.batchId)}`);
      const id = encodeURIComponent(first.document.programmeId);
      const [policy, accounts] = await Promise.all([
        api<PolicyView>('GET', `/v1/programmes/${id}/policy`),
        api<ProviderAccountsView>('GET', `/v1/programmes/${id}/provider-accounts`),
      ]);
      const summary = readBatchFile(bytes, programmeRules(first.document.programmeId, policy, accounts));
      if (!summary.ok) return;
      if (view.programmeId !== summary.document.programmeId || view.currency !== summary.document.currency) {
        setStatus({ kind: 'error', text: t('approve.mismatch', { reason: `${view.programmeId} ${view.currency}` }) });
        return;
      }
      setLoaded({ name, bytes, view, summary });
    } catch (e) {
      setStatus({ kind: 'error', text: errorText(e) });
    }
  };

  const approve = async () => {
    if (!loaded || !key) return;
    setBusy(true);
    setStatus(null);
    try {
      const signature = await signApproval(key, loaded.bytes);
      const view = await api<BatchView>('POST', `/v1/batches/${loaded.view.batchId}/approvals`, { type: 'application/jose+json', text: JSON.stringify(signature) });
      setLoaded({ ...loaded, view });
      setStatus({ kind: 'ok', text: t('approve.done', { state: stateName(view.state), received: view.approvals.received, required: view.approvals.required }) });
    } catch (e) {
      setStatus({ kind: 'error', text: errorText(e) });
    } finally {
      setBusy(false);
    }
  };

  const rejectBatch = async (reason: string): Promise<string | null> => {
    if (!loaded || !key) return null;
    try {
      const signed = await signRejection(key, loaded.bytes, reason);
      const view = await api<BatchView>('POST', `/v1/batches/${loaded.view.batchId}/rejection`, { type: 'application/jose+json', text: JSON.stringify(signed) });
      setLoaded({ ...loaded, view });
      setStatus({ kind: 'ok', text: t('approve.rejected', { state: stateName(view.state) }) });
      setRejecting(false);
      return null;
    } catch (e) {
      return errorText(e);
    }
  };

  const v = loaded?.view;
  return (
    <>
      <h1 tabIndex={-1}>{t('approve.title')}</h1>
      <FileDrop id="batch-file" label={t('approve.file')} hint={t('approve.hint')} accept=".json,application/json" onFile={(name, bytes) => void open(name, bytes)} />
      {status ? <Status kind={status.kind}>{status.text}</Status> : null}
      {loaded && v ? (
        <section class="card" aria-labelledby="summary">
          <h2 id="summary" tabIndex={-1} ref={summaryHeading}>
            {v.batchId}: <span data-testid="batch-state">{stateName(v.state)}</span>
          </h2>
          <dl class="facts">
            <dt>{t('follow.total')}</dt>
            <dd>{money(v.total, v.currency)}</dd>
            <dt>{t('follow.payouts')}</dt>
            <dd>{count(v.payoutCount)}</dd>
          </dl>
          <p data-testid="approvals">{t('follow.approvals', { received: count(v.approvals.received), required: count(v.approvals.required) })}</p>
          <AmountsTable caption={t('batch.byProvider')} rows={loaded.summary.byProvider} currency={v.currency} />
          {loaded.summary.duplicates.length > 0 ? (
            <Status kind="error">{`${t('approve.duplicates')}: ${loaded.summary.duplicates.join(', ')}`}</Status>
          ) : (
            <p>{t('approve.noDuplicates')}</p>
          )}
          {v.state === 'awaiting_approval' ? (
            key ? (
              <p class="row">
                <button type="button" class="primary" disabled={busy} onClick={() => void approve()}>{t('approve.sign')}</button>
                <button type="button" disabled={busy} onClick={() => { setStatus(null); setRejecting(true); }}>{t('approve.rejectOpen')}</button>
              </p>
            ) : (
              <Status kind="info">{t('batch.noKey')}</Status>
            )
          ) : (
            <p>{t('approve.notAwaiting', { state: stateName(v.state) })}</p>
          )}
          <p class="hint">{t('approve.rejectHelp')}</p>
          <p><a href={`#/batch/${v.batchId}`}>{t('batch.follow')}</a></p>
        </section>
      ) : null}
      {rejecting && v ? <RejectDialog batchId={v.batchId} onReject={rejectBatch} onClose={() => setRejecting(false)} fallback={() => summaryHeading.current} /> : null}
      <MyKey role="approver" keyState={keyState} />
    </>
  );
}

/** The reason, then the rejection signed in this browser; Escape or Cancel closes it unsent. */
function RejectDialog(props: { batchId: string; onReject: (reason: string) => Promise<string | null>; onClose: () => void; fallback: () => HTMLElement | null }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const failed = await props.onReject(reason.trim());
    if (failed) {
      setError(failed);
      setBusy(false);
    }
  };
  return (
    <Modal titleId="reject-title" onClose={props.onClose} fallback={props.fallback}>
      <form onSubmit={(e) => void submit(e)}>
        <h2 id="reject-title">{t('approve.rejectTitle', { batch: props.batchId.slice(0, 8) })}</h2>
        <p class="hint" id="reject-help">{t('approve.rejectNote')}</p>
        <label for="reject-reason">{t('approve.rejectReason')}</label>
        <textarea id="reject-reason" required maxLength={500} rows={3} aria-describedby="reject-help" value={reason} onInput={(e) => setReason((e.currentTarget as HTMLTextAreaElement).value.replace(/[\r\n]+/g, ' '))} />
        <p class="row">
          <button type="submit" class="primary" disabled={busy || !reason.trim()}>{t('approve.rejectSign')}</button>
          <button type="button" onClick={props.onClose}>{t('common.cancel')}</button>
        </p>
        {error ? <Status kind="error">{error}</Status> : null}
      </form>
    </Modal>
  );
}
