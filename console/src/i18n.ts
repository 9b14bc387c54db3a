// Every string the console shows comes from these catalogues (English, French); amounts and dates
// are formatted for the reader's locale with Intl. Amounts are decimal strings from the API and are
// formatted as strings (Intl.NumberFormat takes a decimal string exactly): never a JS number.

const en = {
  'app.title': 'Tuma console',
  'app.skip': 'Skip to content',
  'app.language': 'Language',
  'nav.home': 'Home',
  'nav.newBatch': 'New batch',
  'nav.batch': 'Follow a batch',
  'nav.approve': 'Approve a batch',
  'nav.keys': 'Signer keys',
  'nav.signOut': 'Sign out',
  'session.as': 'Signed in as {subject} ({roles}) in {org}',
  'session.expired': 'Your session has ended. Sign in again.',
  'signIn.title': 'Sign in',
  'signIn.dev.title': 'Dev mode sign-in',
  'signIn.dev.note': 'This server runs in dev mode: it signs a token for whoever you say you are. It is never offered outside dev mode.',
  'signIn.org': 'Organisation',
  'signIn.subject': 'Your name (token subject)',
  'signIn.roles': 'Roles',
  'signIn.submit': 'Sign in',
  'signIn.oidc': 'Sign in with your organisation',
  'signIn.none': 'This server offers no sign-in for the console: ask its administrator to set CONSOLE_OIDC_CLIENT_ID.',
  'signIn.oidcFailed': 'Sign-in through your organisation failed: {reason}',
  'role.programme_manager': 'programme manager',
  'role.approver': 'approver',
  'role.finance': 'finance',
  'role.admin': 'administrator',
  'role.auditor': 'auditor',
  'home.title': 'What you can do',
  'home.pm': 'Build a batch from a CSV file, sign it with your key and submit it.',
  'home.approver': 'Check a batch and approve it with your key.',
  'home.admin': 'Register the public keys of makers and approvers.',
  'home.follow': 'Follow a batch by its id.',
  'keys.mine.title': 'Your {role} key',
  'keys.mine.none': 'This browser holds no {role} key for you yet.',
  'keys.mine.generate': 'Make a {role} key in this browser',
  'keys.mine.kid': 'Key id (thumbprint):',
  'keys.role.maker': 'maker',
  'keys.role.approver': 'approver',
  'keys.mine.public': 'Public key to give your administrator',
  'keys.mine.note': 'The private key was made in this browser and cannot be read out of it, not even by you. An administrator registers the public key above for you ({subject}) before you can sign.',
  'keys.mine.copy': 'Copy the public key',
  'keys.mine.copied': 'Copied.',
  'keys.admin.title': 'Register a signer key',
  'keys.admin.role': 'What the key signs',
  'keys.admin.role.maker': 'batches (maker)',
  'keys.admin.role.approver': 'approvals (approver)',
  'keys.admin.holder': 'Holder (the person\'s token subject)',
  'keys.admin.jwk': 'Public key (JWK, as the person\'s console shows it)',
  'keys.admin.submit': 'Register',
  'keys.admin.done': 'Registered key {kid} for {holder} ({status}).',
  'keys.admin.badJwk': 'The public key is not JSON.',
  'keys.list.title': 'Registered keys',
  'keys.list.kid': 'Key id',
  'keys.list.role': 'Role',
  'keys.list.holder': 'Holder',
  'keys.list.status': 'Status',
  'batch.new.title': 'New batch',
  'batch.programme': 'Programme',
  'batch.loadProgramme': 'Load the programme\'s rules',
  'batch.programmeRules': '{programme}: pays in {currency} through {providers}; {rowErrors}.',
  'batch.rowErrors.reject_batch': 'any bad row refuses the batch',
  'batch.rowErrors.accept_valid_rows': 'bad rows are left out',
  'batch.csv': 'Payouts CSV file',
  'batch.csv.hint': 'Columns ref, msisdn, amount, provider and optionally name and note. Drop the file here or choose it.',
  'batch.csv.drop': 'Drop the CSV file here',
  'batch.csv.reading': 'Reading {file}…',
  'batch.problems.title': '{count, plural, one {# problem} other {# problems}} in {file}: nothing can be signed until each is fixed',
  'batch.problems.line': 'Line',
  'batch.problems.column': 'Column',
  'batch.problems.problem': 'Problem',
  'batch.ok.title': '{file}: {count, plural, one {# payout} other {# payouts}}, {total}, ready to sign',
  'batch.byProvider': 'By provider',
  'batch.provider': 'Provider',
  'batch.count': 'Payouts',
  'batch.amount': 'Amount',
  'batch.preview': 'First rows (numbers masked)',
  'batch.ref': 'Ref',
  'batch.msisdn': 'Number',
  'batch.signSubmit': 'Sign with my key and submit',
  'batch.signing': 'Signing and submitting…',
  'batch.noKey': 'Make your key below and have an administrator register it before you sign.',
  'batch.submitted': 'Batch {id} submitted: {state}.',
  'batch.download': 'Download the signed batch document (for approvers)',
  'batch.refused': 'The server refused the batch: {message}',
  'batch.follow': 'Follow this batch',
  'follow.title': 'Batch',
  'follow.id': 'Batch id',
  'follow.open': 'Open',
  'follow.state': 'State',
  'follow.stateIs': 'State:',
  'follow.progress': 'Progress',
  'follow.total': 'Total',
  'follow.payouts': 'Payouts',
  'follow.received': 'Received',
  'follow.approvals': 'Approvals: {received} of {required}',
  'follow.byState': 'By state',
  'follow.byProvider': 'By provider and state',
  'follow.byProviderTooMany': 'By provider: shown for batches of up to {max} payouts.',
  'follow.live': 'Updated {time}; refreshing every {seconds} s while payouts move.',
  'follow.final': 'Final: nothing more will change.',
  'follow.rejectedRows': '{count, plural, one {# row} other {# rows}} left out',
  'approve.title': 'Approve a batch',
  'approve.file': 'The batch document (batch.json) the maker gave you',
  'approve.hint': 'You sign the same bytes the maker signed: the console reads them from the file, checks them against the server\'s batch and shows what they pay.',
  'approve.mismatch': 'This file is not the batch the server holds: {reason}',
  'approve.sign': 'Approve: sign with my approver key',
  'approve.done': 'Approved: the batch is now {state} ({received} of {required} approvals).',
  'approve.notAwaiting': 'This batch is {state}: it is not waiting for approval.',
  'approve.duplicates': 'Flagged: the same number paid the same amount more than once',
  'approve.noDuplicates': 'No number is paid the same amount twice.',
  'approve.reject': 'To stop a batch, ask its programme manager or an administrator to cancel it: approvers cannot refuse a batch through the API.',
  'state.received': 'received',
  'state.awaiting_approval': 'awaiting approval',
  'state.approved': 'approved',
  'state.dispatching': 'dispatching',
  'state.completed': 'completed',
  'state.rejected': 'rejected',
  'state.cancelled': 'cancelled',
  'state.queued': 'queued',
  'state.submitting': 'submitting',
  'state.submitted': 'submitted',
  'state.paid': 'paid',
  'state.failed': 'failed',
  'state.held': 'held',
  'state.released': 'released',
  'state.reversed': 'reversed',
  'error.network': 'The server could not be reached. Check your connection and try again.',
  'error.server': '{message} ({code})',
  'error.APPROVAL_BY_MAKER': 'You submitted this batch (or the key is the maker\'s): another person must approve it. Maker and checker are always two people.',
  'error.JWS_KEY_UNKNOWN': 'Your key is not registered yet: give its public key to an administrator.',
  'error.JWS_KEY_NOT_CALLERS': 'This key is registered for someone else: an administrator must register it with you as its holder.',
  'error.AUTH_FORBIDDEN': 'Your roles do not allow this.',
  'error.AUTH_UNAUTHENTICATED': 'Your session has ended. Sign in again.',
  'row.FIELD_MISSING': 'missing',
  'row.FIELD_INVALID': 'wrong type or format',
  'row.FIELD_UNKNOWN': 'not a column Tuma knows',
  'row.AMOUNT_NOT_STRING': 'not a decimal amount',
  'row.AMOUNT_INVALID': 'not a positive amount like 1250.50 (no sign, exponent, separators or leading zeros)',
  'row.AMOUNT_SCALE': 'more decimals than the currency has',
  'row.AMOUNT_RANGE': 'too large',
  'row.AMOUNT_PROVIDER_SCALE': 'this provider pays whole units only',
  'row.CURRENCY_UNKNOWN': 'unknown currency',
  'row.MSISDN_INVALID': 'not a valid mobile number in international form, like +254712345678',
  'row.MSISDN_COUNTRY': 'a number of a country this provider does not pay here',
  'row.PROVIDER_UNKNOWN': 'not a provider Tuma knows',
  'row.PROVIDER_CURRENCY': 'this provider does not pay in the programme\'s currency',
  'row.REF_DUPLICATE': 'the same ref as another row',
  'row.PROVIDER_NOT_ENABLED': 'this provider is not enabled for the programme',
  'row.PROVIDER_NOT_CONFIGURED': 'no account of this provider serves the programme',
  'row.AMOUNT_BELOW_MINIMUM': 'below the provider\'s or account\'s minimum',
  'row.AMOUNT_ABOVE_MAXIMUM': 'above the programme\'s, provider\'s or account\'s maximum',
  'row.BENEFICIARY_DUPLICATE': 'the same number is paid the same amount on another row',
  'row.DECLARED_COUNT_MISMATCH': 'the declared count is wrong',
  'row.DECLARED_TOTAL_MISMATCH': 'the declared total is wrong',
  'row.DATES_INVALID': 'the batch expires before it is created',
  'csv.empty': 'the file is empty',
  'csv.noRows': 'no payout rows',
  'csv.tooMany': 'more than {max} rows',
  'csv.unknownColumn': 'unknown column; the columns are {columns}',
  'csv.twice': 'the column appears twice',
  'csv.missingColumn': 'missing column',
  'csv.fieldCount': '{count} fields, the header has {header}',
  'csv.unreadable': 'not readable as CSV: {reason}',
  'csv.tooLarge': 'the file is larger than {max}',
  'csv.notUtf8': 'not a UTF-8 text file',
} as const;

export type MessageKey = keyof typeof en;
type Catalogue = Record<MessageKey, string>;

const fr: Catalogue = {
  'app.title': 'Console Tuma',
  'app.skip': 'Aller au contenu',
  'app.language': 'Langue',
  'nav.home': 'Accueil',
  'nav.newBatch': 'Nouveau lot',
  'nav.batch': 'Suivre un lot',
  'nav.approve': 'Approuver un lot',
  'nav.keys': 'Clés de signature',
  'nav.signOut': 'Se déconnecter',
  'session.as': 'Connecté·e en tant que {subject} ({roles}) dans {org}',
  'session.expired': 'Votre session a pris fin. Reconnectez-vous.',
  'signIn.title': 'Connexion',
  'signIn.dev.title': 'Connexion en mode développement',
  'signIn.dev.note': 'Ce serveur tourne en mode développement : il signe un jeton pour la personne que vous dites être. Cette page n\'existe jamais hors de ce mode.',
  'signIn.org': 'Organisation',
  'signIn.subject': 'Votre nom (sujet du jeton)',
  'signIn.roles': 'Rôles',
  'signIn.submit': 'Se connecter',
  'signIn.oidc': 'Se connecter avec votre organisation',
  'signIn.none': 'Ce serveur n\'offre aucune connexion à la console : demandez à son administrateur de définir CONSOLE_OIDC_CLIENT_ID.',
  'signIn.oidcFailed': 'La connexion par votre organisation a échoué : {reason}',
  'role.programme_manager': 'gestionnaire de programme',
  'role.approver': 'approbateur',
  'role.finance': 'finance',
  'role.admin': 'administrateur',
  'role.auditor': 'auditeur',
  'home.title': 'Ce que vous pouvez faire',
  'home.pm': 'Construire un lot à partir d\'un fichier CSV, le signer avec votre clé et le soumettre.',
  'home.approver': 'Vérifier un lot et l\'approuver avec votre clé.',
  'home.admin': 'Enregistrer les clés publiques des émetteurs et des approbateurs.',
  'home.follow': 'Suivre un lot par son identifiant.',
  'keys.mine.title': 'Votre clé ({role})',
  'keys.mine.none': 'Ce navigateur ne détient encore aucune clé ({role}) pour vous.',
  'keys.mine.generate': 'Créer votre clé ({role}) dans ce navigateur',
  'keys.mine.kid': 'Identifiant de clé (empreinte) :',
  'keys.role.maker': 'émetteur',
  'keys.role.approver': 'approbateur',
  'keys.mine.public': 'Clé publique à remettre à votre administrateur',
  'keys.mine.note': 'La clé privée a été créée dans ce navigateur et ne peut pas en être extraite, pas même par vous. Un administrateur enregistre la clé publique ci-dessus pour vous ({subject}) avant que vous puissiez signer.',
  'keys.mine.copy': 'Copier la clé publique',
  'keys.mine.copied': 'Copiée.',
  'keys.admin.title': 'Enregistrer une clé de signature',
  'keys.admin.role': 'Ce que la clé signe',
  'keys.admin.role.maker': 'des lots (émetteur)',
  'keys.admin.role.approver': 'des approbations (approbateur)',
  'keys.admin.holder': 'Détenteur (sujet du jeton de la personne)',
  'keys.admin.jwk': 'Clé publique (JWK, telle que la console de la personne l\'affiche)',
  'keys.admin.submit': 'Enregistrer',
  'keys.admin.done': 'Clé {kid} enregistrée pour {holder} ({status}).',
  'keys.admin.badJwk': 'La clé publique n\'est pas du JSON.',
  'keys.list.title': 'Clés enregistrées',
  'keys.list.kid': 'Identifiant',
  'keys.list.role': 'Rôle',
  'keys.list.holder': 'Détenteur',
  'keys.list.status': 'État',
  'batch.new.title': 'Nouveau lot',
  'batch.programme': 'Programme',
  'batch.loadProgramme': 'Charger les règles du programme',
  'batch.programmeRules': '{programme} : paie en {currency} par {providers} ; {rowErrors}.',
  'batch.rowErrors.reject_batch': 'une seule ligne erronée fait refuser le lot',
  'batch.rowErrors.accept_valid_rows': 'les lignes erronées sont écartées',
  'batch.csv': 'Fichier CSV des paiements',
  'batch.csv.hint': 'Colonnes ref, msisdn, amount, provider et, au choix, name et note. Déposez le fichier ici ou choisissez-le.',
  'batch.csv.drop': 'Déposez le fichier CSV ici',
  'batch.csv.reading': 'Lecture de {file}…',
  'batch.problems.title': '{count, plural, one {# problème} other {# problèmes}} dans {file} : rien ne peut être signé avant que chacun soit corrigé',
  'batch.problems.line': 'Ligne',
  'batch.problems.column': 'Colonne',
  'batch.problems.problem': 'Problème',
  'batch.ok.title': '{file} : {count, plural, one {# paiement} other {# paiements}}, {total}, prêt à signer',
  'batch.byProvider': 'Par opérateur',
  'batch.provider': 'Opérateur',
  'batch.count': 'Paiements',
  'batch.amount': 'Montant',
  'batch.preview': 'Premières lignes (numéros masqués)',
  'batch.ref': 'Réf.',
  'batch.msisdn': 'Numéro',
  'batch.signSubmit': 'Signer avec ma clé et soumettre',
  'batch.signing': 'Signature et envoi…',
  'batch.noKey': 'Créez votre clé ci-dessous et faites-la enregistrer par un administrateur avant de signer.',
  'batch.submitted': 'Lot {id} soumis : {state}.',
  'batch.download': 'Télécharger le document de lot signé (pour les approbateurs)',
  'batch.refused': 'Le serveur a refusé le lot : {message}',
  'batch.follow': 'Suivre ce lot',
  'follow.title': 'Lot',
  'follow.id': 'Identifiant du lot',
  'follow.open': 'Ouvrir',
  'follow.state': 'État',
  'follow.stateIs': 'État :',
  'follow.progress': 'Avancement',
  'follow.total': 'Total',
  'follow.payouts': 'Paiements',
  'follow.received': 'Reçu',
  'follow.approvals': 'Approbations : {received} sur {required}',
  'follow.byState': 'Par état',
  'follow.byProvider': 'Par opérateur et état',
  'follow.byProviderTooMany': 'Par opérateur : affiché pour les lots d\'au plus {max} paiements.',
  'follow.live': 'Mis à jour à {time} ; actualisé toutes les {seconds} s tant que des paiements avancent.',
  'follow.final': 'Terminé : plus rien ne changera.',
  'follow.rejectedRows': '{count, plural, one {# ligne écartée} other {# lignes écartées}}',
  'approve.title': 'Approuver un lot',
  'approve.file': 'Le document de lot (batch.json) que l\'émetteur vous a remis',
  'approve.hint': 'Vous signez les mêmes octets que l\'émetteur : la console les lit dans le fichier, les compare au lot du serveur et montre ce qu\'ils paient.',
  'approve.mismatch': 'Ce fichier n\'est pas le lot que détient le serveur : {reason}',
  'approve.sign': 'Approuver : signer avec ma clé d\'approbateur',
  'approve.done': 'Approuvé : le lot est maintenant {state} ({received} approbations sur {required}).',
  'approve.notAwaiting': 'Ce lot est {state} : il n\'attend pas d\'approbation.',
  'approve.duplicates': 'Signalé : le même numéro reçoit le même montant plus d\'une fois',
  'approve.noDuplicates': 'Aucun numéro ne reçoit deux fois le même montant.',
  'approve.reject': 'Pour arrêter un lot, demandez à son gestionnaire de programme ou à un administrateur de l\'annuler : l\'API ne permet pas à un approbateur de refuser un lot.',
  'state.received': 'reçu',
  'state.awaiting_approval': 'en attente d\'approbation',
  'state.approved': 'approuvé',
  'state.dispatching': 'en cours d\'envoi',
  'state.completed': 'terminé',
  'state.rejected': 'refusé',
  'state.cancelled': 'annulé',
  'state.queued': 'en file',
  'state.submitting': 'en cours de soumission',
  'state.submitted': 'soumis',
  'state.paid': 'payé',
  'state.failed': 'échoué',
  'state.held': 'retenu',
  'state.released': 'libéré',
  'state.reversed': 'annulé par l\'opérateur',
  'error.network': 'Le serveur est injoignable. Vérifiez votre connexion et réessayez.',
  'error.server': '{message} ({code})',
  'error.APPROVAL_BY_MAKER': 'Vous avez soumis ce lot (ou la clé est celle de l\'émetteur) : une autre personne doit l\'approuver. Émetteur et approbateur sont toujours deux personnes.',
  'error.JWS_KEY_UNKNOWN': 'Votre clé n\'est pas encore enregistrée : remettez sa clé publique à un administrateur.',
  'error.JWS_KEY_NOT_CALLERS': 'Cette clé est enregistrée au nom de quelqu\'un d\'autre : un administrateur doit l\'enregistrer avec vous comme détenteur.',
  'error.AUTH_FORBIDDEN': 'Vos rôles ne le permettent pas.',
  'error.AUTH_UNAUTHENTICATED': 'Votre session a pris fin. Reconnectez-vous.',
  'row.FIELD_MISSING': 'manquant',
  'row.FIELD_INVALID': 'type ou format incorrect',
  'row.FIELD_UNKNOWN': 'colonne inconnue de Tuma',
  'row.AMOUNT_NOT_STRING': 'pas un montant décimal',
  'row.AMOUNT_INVALID': 'pas un montant positif comme 1250.50 (sans signe, exposant, séparateur ni zéro initial)',
  'row.AMOUNT_SCALE': 'plus de décimales que la devise n\'en a',
  'row.AMOUNT_RANGE': 'trop grand',
  'row.AMOUNT_PROVIDER_SCALE': 'cet opérateur ne paie que des unités entières',
  'row.CURRENCY_UNKNOWN': 'devise inconnue',
  'row.MSISDN_INVALID': 'pas un numéro mobile valide au format international, comme +254712345678',
  'row.MSISDN_COUNTRY': 'un numéro d\'un pays que cet opérateur ne paie pas ici',
  'row.PROVIDER_UNKNOWN': 'opérateur inconnu de Tuma',
  'row.PROVIDER_CURRENCY': 'cet opérateur ne paie pas dans la devise du programme',
  'row.REF_DUPLICATE': 'la même réf. qu\'une autre ligne',
  'row.PROVIDER_NOT_ENABLED': 'cet opérateur n\'est pas activé pour le programme',
  'row.PROVIDER_NOT_CONFIGURED': 'aucun compte de cet opérateur ne sert le programme',
  'row.AMOUNT_BELOW_MINIMUM': 'sous le minimum de l\'opérateur ou du compte',
  'row.AMOUNT_ABOVE_MAXIMUM': 'au-dessus du maximum du programme, de l\'opérateur ou du compte',
  'row.BENEFICIARY_DUPLICATE': 'le même numéro reçoit le même montant sur une autre ligne',
  'row.DECLARED_COUNT_MISMATCH': 'le nombre déclaré est faux',
  'row.DECLARED_TOTAL_MISMATCH': 'le total déclaré est faux',
  'row.DATES_INVALID': 'le lot expire avant d\'être créé',
  'csv.empty': 'le fichier est vide',
  'csv.noRows': 'aucune ligne de paiement',
  'csv.tooMany': 'plus de {max} lignes',
  'csv.unknownColumn': 'colonne inconnue ; les colonnes sont {columns}',
  'csv.twice': 'la colonne apparaît deux fois',
  'csv.missingColumn': 'colonne manquante',
  'csv.fieldCount': '{count} champs, l\'en-tête en a {header}',
  'csv.unreadable': 'illisible comme CSV : {reason}',
  'csv.tooLarge': 'le fichier dépasse {max}',
  'csv.notUtf8': 'pas un fichier texte UTF-8',
};

export const catalogues = { en, fr } as const;
export type Locale = keyof typeof catalogues;
export const locales = Object.keys(catalogues) as Locale[];

function initialLocale(): Locale {
  const saved = typeof localStorage === 'undefined' ? null : localStorage.getItem('tuma.locale');
  if (saved && (locales as string[]).includes(saved)) return saved as Locale;
  const nav = typeof navigator === 'undefined' ? 'en' : navigator.language.slice(0, 2);
  return (locales as string[]).includes(nav) ? (nav as Locale) : 'en';
}

export const locale: { value: Locale } = { value: initialLocale() };
const listeners = new Set<() => void>();

/** Called when the reader changes language (the app renders again). */
export function onLocaleChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function setLocale(l: Locale): void {
  locale.value = l;
  localStorage.setItem('tuma.locale', l);
  document.documentElement.lang = l;
  for (const listener of listeners) listener();
}

type Vars = Record<string, string | number | bigint>;

/**
 * A message with its {placeholders} filled; `{name, plural, one {…} other {…}}` picks the form
 * for the locale (Intl.PluralRules) with # standing for the number.
 */
export function t(key: MessageKey, vars: Vars = {}): string {
  const l = locale.value;
  const template = (catalogues[l] as Catalogue)[key];
  const plurals = new Intl.PluralRules(l);
  return template
    .replace(/\{(\w+), plural, ((?:\w+ \{[^}]*\}\s*)+)\}/g, (_m, name: string, forms: string) => {
      const n = vars[name];
      const count = typeof n === 'number' ? n : Number(n ?? 0);
      const options = new Map([...forms.matchAll(/(\w+) \{([^}]*)\}/g)].map((f) => [f[1]!, f[2]!]));
      const form = options.get(plurals.select(count)) ?? options.get('other') ?? '';
      return form.replace(/#/g, new Intl.NumberFormat(l).format(count));
    })
    .replace(/\{(\w+)\}/g, (m, name: string) => (vars[name] === undefined ? m : String(vars[name])));
}

/** A decimal string amount ("1500.00") in the currency, for the locale: formatted from the string, exactly. */
export function money(amount: string, currency: string): string {
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(amount)) return `${amount} ${currency}`;
  // Intl.NumberFormat formats a decimal string exactly (ECMA-402 "Intl.NumberFormat v3"): no float.
  const format = new Intl.NumberFormat(locale.value, { style: 'currency', currency }).format as (value: string) => string;
  return format(amount);
}

export function count(n: number): string {
  return new Intl.NumberFormat(locale.value).format(n);
}

export function dateTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : new Intl.DateTimeFormat(locale.value, { dateStyle: 'medium', timeStyle: 'medium' }).format(d);
}

export function time(d: Date): string {
  return new Intl.DateTimeFormat(locale.value, { timeStyle: 'medium' }).format(d);
}

/** A beneficiary number as the console shows it: country code and last three digits. */
export function maskNumber(msisdn: string): string {
  if (msisdn.length < 8) return '•'.repeat(msisdn.length);
  return `${msisdn.slice(0, 4)}${'•'.repeat(msisdn.length - 7)}${msisdn.slice(-3)}`;
}
