// The audit log (auditors and administrators): every privileged action of the organisation, oldest
// first, a page at a time (GET /v1/audit), each with who, what, on what, and its hash link to the
// one before. Numbers in the details are masked by the server before they are written.
import { useEffect, useState } from 'preact/hooks';
import { api, type AuditEventView } from '../api';
import { count, dateTime, t } from '../i18n';
import { errorText, label, Status } from '../ui';

const pageSize = 100;

export function Audit() {
  const [events, setEvents] = useState<AuditEventView[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = async (after: string | null) => {
    setBusy(true);
    try {
      const page = await api<{ events: AuditEventView[]; next: string | null }>('GET', `/v1/audit?limit=${pageSize}${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      setEvents((before) => (after ? [...before, ...page.events] : page.events));
      setNext(page.events.length > 0 ? page.next : null);
      setLoaded(true);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load(null);
  }, []);

  return (
    <>
      <h1 tabIndex={-1}>{t('audit.title')}</h1>
      <p class="hint">{t('audit.note')}</p>
      {error ? <Status kind="error">{error}</Status> : null}
      {loaded && events.length === 0 ? <p>{t('audit.none')}</p> : null}
      {events.length > 0 ? (
        <div class="scroll" tabIndex={0} role="region" aria-labelledby="audit-caption">
          <table data-testid="audit" class="audit">
            <colgroup><col class="c-seq" /><col class="c-at" /><col class="c-who" /><col class="c-action" /><col class="c-object" /><col /></colgroup>
            <caption id="audit-caption">{t('audit.caption', { count: count(events.length) })}</caption>
            <thead>
              <tr>
                <th scope="col" class="num">{t('audit.seq')}</th>
                <th scope="col">{t('audit.at')}</th>
                <th scope="col">{t('audit.actor')}</th>
                <th scope="col">{t('audit.action')}</th>
                <th scope="col">{t('audit.object')}</th>
                <th scope="col">{t('audit.detail')}</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.seq}>
                  <td class="num">{e.seq}</td>
                  <td>{dateTime(e.at)}</td>
                  <th scope="row">{e.actor}</th>
                  <td>{label('audit.actions', e.action)}</td>
                  <td class="key">{e.object.type} {e.object.id}</td>
                  <td>
                    {Object.keys(e.detail).length > 0 ? (
                      <dl class="detail">
                        {Object.entries(e.detail).map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{v}</dd></div>)}
                      </dl>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {next ? <button type="button" disabled={busy} onClick={() => void load(next)}>{t('common.more')}</button> : null}
    </>
  );
}
