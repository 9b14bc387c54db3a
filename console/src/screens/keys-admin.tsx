// An administrator registers a person's public key (POST /v1/signer-keys) and sees the keys.
import { useEffect, useState } from 'preact/hooks';
import { api, json, type SignerKeyView } from '../api';
import { t } from '../i18n';
import { errorText, Status } from '../ui';

export function KeysAdmin() {
  const [role, setRole] = useState<'maker' | 'approver'>('maker');
  const [holder, setHolder] = useState('');
  const [jwk, setJwk] = useState('');
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [keys, setKeys] = useState<SignerKeyView[] | null>(null);
  const refresh = () => api<{ items: SignerKeyView[] }>('GET', '/v1/signer-keys').then((r) => setKeys(r.items), () => setKeys(null));
  useEffect(() => void refresh(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    let publicJwk: unknown;
    try {
      publicJwk = JSON.parse(jwk);
    } catch {
      setStatus({ kind: 'error', text: t('keys.admin.badJwk') });
      return;
    }
    try {
      const key = await api<SignerKeyView>('POST', '/v1/signer-keys', json({ role, alg: 'ES256', holder, publicJwk }));
      setStatus({ kind: 'ok', text: t('keys.admin.done', { kid: key.kid, holder: key.holder ?? '', status: key.status }) });
      setJwk('');
      void refresh();
    } catch (error) {
      setStatus({ kind: 'error', text: errorText(error) });
    }
  };
  return (
    <>
      <h1 tabIndex={-1}>{t('keys.admin.title')}</h1>
      <form class="card" onSubmit={(e) => void submit(e)}>
        <fieldset>
          <legend>{t('keys.admin.role')}</legend>
          {(['maker', 'approver'] as const).map((r) => (
            <label key={r} class="inline">
              <input type="radio" name="role" value={r} checked={role === r} onChange={() => setRole(r)} /> {t(r === 'maker' ? 'keys.admin.role.maker' : 'keys.admin.role.approver')}
            </label>
          ))}
        </fieldset>
        <label for="holder">{t('keys.admin.holder')}</label>
        <input id="holder" required value={holder} onInput={(e) => setHolder((e.currentTarget as HTMLInputElement).value)} autoComplete="off" />
        <label for="jwk">{t('keys.admin.jwk')}</label>
        <textarea id="jwk" required rows={4} value={jwk} onInput={(e) => setJwk((e.currentTarget as HTMLTextAreaElement).value)} />
        <button type="submit">{t('keys.admin.submit')}</button>
        {status ? <Status kind={status.kind}>{status.text}</Status> : null}
      </form>
      {keys ? (
        <table>
          <caption>{t('keys.list.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('keys.list.kid')}</th>
              <th scope="col">{t('keys.list.role')}</th>
              <th scope="col">{t('keys.list.holder')}</th>
              <th scope="col">{t('keys.list.status')}</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.kid}>
                <td><code>{k.kid}</code></td>
                <td>{k.role}</td>
                <td>{k.holder ?? '—'}</td>
                <td>{k.status}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}
