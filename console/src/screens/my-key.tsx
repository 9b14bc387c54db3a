// The signer's own key in this browser: made here (non-extractable), its public JWK shown for the
// administrator to register with this person as holder.
import { useEffect, useState } from 'preact/hooks';
import { generateKey, keyId, loadKey, registrationJwk, type SignerRole, type StoredKey } from '../keys';
import { t } from '../i18n';
import { session } from '../session';
import { errorText, Status } from '../ui';

export function useMyKey(role: SignerRole): [StoredKey | null | undefined, (k: StoredKey) => void] {
  const s = session.value;
  const [key, setKey] = useState<StoredKey | null | undefined>(undefined);
  useEffect(() => {
    if (!s) return;
    void loadKey(keyId(s.organisationId, s.subject, role)).then(setKey, () => setKey(null));
  }, [s?.organisationId, s?.subject, role]);
  return [key, setKey];
}

export function MyKey(props: { role: SignerRole; keyState: [StoredKey | null | undefined, (k: StoredKey) => void] }) {
  const s = session.value;
  const [key, setKey] = props.keyState;
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const roleName = t(props.role === 'maker' ? 'keys.role.maker' : 'keys.role.approver');
  if (!s || key === undefined) return null;
  const jwk = key ? JSON.stringify(registrationJwk(key)) : '';
  return (
    <section aria-labelledby={`key-${props.role}`} class="card">
      <h2 id={`key-${props.role}`}>{t('keys.mine.title', { role: roleName })}</h2>
      {key ? (
        <>
          <p>
            {t('keys.mine.kid')} <code data-testid={`kid-${props.role}`}>{key.kid}</code>
          </p>
          <label for={`jwk-${props.role}`}>{t('keys.mine.public')}</label>
          <textarea id={`jwk-${props.role}`} readOnly rows={3} value={jwk} />
          <p>
            <button
              type="button"
              onClick={() => {
                void navigator.clipboard?.writeText(jwk).then(() => setCopied(true), () => setCopied(false));
              }}
            >
              {t('keys.mine.copy')}
            </button>{' '}
            {copied ? <span role="status">{t('keys.mine.copied')}</span> : null}
          </p>
          <p class="hint">{t('keys.mine.note', { subject: s.subject })}</p>
        </>
      ) : (
        <>
          <p>{t('keys.mine.none', { role: roleName })}</p>
          <button
            type="button"
            onClick={() => {
              setError(null);
              generateKey(keyId(s.organisationId, s.subject, props.role)).then(setKey, (e: unknown) => setError(errorText(e)));
            }}
          >
            {t('keys.mine.generate', { role: roleName })}
          </button>
        </>
      )}
      {error ? <Status kind="error">{error}</Status> : null}
    </section>
  );
}
