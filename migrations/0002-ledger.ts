// The ledger made provable (issue #3): every account has an owner organisation; every transfer
// carries the running totals of both its accounts after it (statements and replay checks read
// them, never recompute them); a hash chain over transfers, built off the hot path; the
// database refuses what the service also refuses (closed accounts, totals going backwards).
//
// Columns added to rows that may already exist are nullable, with NOT VALID checks: every new
// row must carry them, old rows are left as they were (transfers are append-only, even to us).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE accounts ADD COLUMN organisation_id text REFERENCES organisations(id);
    -- Room on each page for the new version of a row: posting updates totals in place (HOT), no index churn.
    ALTER TABLE accounts SET (fillfactor = 50);
    ALTER TABLE accounts ADD CONSTRAINT accounts_owner_required CHECK (organisation_id IS NOT NULL) NOT VALID;
    CREATE INDEX accounts_owner ON accounts (organisation_id, currency, key);

    -- Running totals only grow; a closed account takes no more money and is never reopened.
    CREATE FUNCTION tuma_account_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF NEW.id <> OLD.id OR NEW.currency <> OLD.currency OR NEW.key <> OLD.key
         OR NEW.organisation_id IS DISTINCT FROM OLD.organisation_id
         OR NEW.debits_must_not_exceed_credits <> OLD.debits_must_not_exceed_credits
         OR NEW.credits_must_not_exceed_debits <> OLD.credits_must_not_exceed_debits THEN
        RAISE EXCEPTION 'account %: identity and flags never change', OLD.id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      IF NEW.debits_posted < OLD.debits_posted OR NEW.credits_posted < OLD.credits_posted THEN
        RAISE EXCEPTION 'account %: posted totals never decrease', OLD.id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      IF OLD.closed AND (NOT NEW.closed OR NEW.debits_posted <> OLD.debits_posted OR NEW.credits_posted <> OLD.credits_posted) THEN
        RAISE EXCEPTION 'account % is closed', OLD.id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END
    $fn$;
    -- The WHEN clause is evaluated without calling the function: an ordinary posting pays nothing for the guard.
    CREATE TRIGGER accounts_guard BEFORE UPDATE ON accounts FOR EACH ROW
      WHEN (NEW.id <> OLD.id OR NEW.currency <> OLD.currency OR NEW.key <> OLD.key
            OR NEW.organisation_id IS DISTINCT FROM OLD.organisation_id
            OR NEW.debits_must_not_exceed_credits <> OLD.debits_must_not_exceed_credits
            OR NEW.credits_must_not_exceed_debits <> OLD.credits_must_not_exceed_debits
            OR NEW.debits_posted < OLD.debits_posted OR NEW.credits_posted < OLD.credits_posted OR OLD.closed)
      EXECUTE FUNCTION tuma_account_guard();
    CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();
    CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts FOR EACH STATEMENT EXECUTE FUNCTION tuma_refuse_change();

    ALTER TABLE transfers DROP CONSTRAINT transfers_code_check;
    ALTER TABLE transfers ADD CONSTRAINT transfers_code_check
      CHECK (code IN ('funding', 'float_topup', 'batch_commit', 'payout_paid', 'payout_fee', 'payout_released', 'payout_reversed'));
    -- A donor or bank reference for finance (fundings, top-ups); never beneficiary data.
    ALTER TABLE transfers ADD COLUMN reference text CHECK (reference IS NULL OR length(reference) BETWEEN 1 AND 128);
    -- Both accounts' posted totals right after this transfer, written under the accounts' row locks.
    ALTER TABLE transfers
      ADD COLUMN debit_debits_after bigint,
      ADD COLUMN debit_credits_after bigint,
      ADD COLUMN credit_debits_after bigint,
      ADD COLUMN credit_credits_after bigint;
    ALTER TABLE transfers ADD CONSTRAINT transfers_totals_after CHECK (
      debit_debits_after >= amount AND debit_credits_after >= 0 AND
      credit_credits_after >= amount AND credit_debits_after >= 0
    ) NOT VALID;

    -- The hash chain: link n covers transfer n's canonical bytes and link n-1's hash. The chainer
    -- appends links in seq order, only up to a point no running transaction can still insert below.
    CREATE TABLE transfer_links (
      seq bigint PRIMARY KEY REFERENCES transfers(seq),
      prev_seq bigint UNIQUE REFERENCES transfer_links(seq),
      hash bytea NOT NULL CHECK (length(hash) = 32),
      chained_at timestamptz NOT NULL DEFAULT now(),
      CHECK (prev_seq IS NULL OR prev_seq < seq)
    );
    -- Only the first link has no predecessor.
    CREATE UNIQUE INDEX transfer_links_one_genesis ON transfer_links ((prev_seq IS NULL)) WHERE prev_seq IS NULL;
    CREATE TRIGGER transfer_links_append_only BEFORE UPDATE OR DELETE ON transfer_links
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();
    CREATE TRIGGER transfer_links_no_truncate BEFORE TRUNCATE ON transfer_links
      FOR EACH STATEMENT EXECUTE FUNCTION tuma_refuse_change();

    -- One row: the chain head, and the candidate horizon (max seq seen, and the snapshot xmax then).
    -- Once no transaction older than candidate_xmax runs, every seq up to candidate_seq is final.
    CREATE TABLE ledger_chain (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      head_seq bigint REFERENCES transfer_links(seq),
      head_hash bytea CHECK (head_hash IS NULL OR length(head_hash) = 32),
      candidate_seq bigint,
      candidate_xmax xid8,
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((head_seq IS NULL) = (head_hash IS NULL))
    );
    INSERT INTO ledger_chain (id) VALUES (true);

    -- Posting a journal in one statement (one round trip, so one transfer can be its own SQL
    -- transaction at thousands per second). The caller passes the journal's distinct account keys
    -- (p_keys) and, per transfer, the 1-based positions of its debit and credit account in them.
    --   1. lock the accounts FOR UPDATE in ascending id order (no deadlocks);
    --   2. idempotency under the locks: all transfers stored with equal fields → 'replayed';
    --      any stored with other fields → 'conflict';
    --   3. apply the transfers in order (TigerBeetle semantics: each must leave every flagged
    --      account within its flags): closed, range and flags refuse with nothing written;
    --   4. insert the transfers with both accounts' totals after each, then set the totals.
    -- The CHECK constraints and triggers refuse again whatever this lets through. The pure model of
    -- the same rules is src/domain/ledger.ts (applyJournal); the property tests hold the two equal.
    -- A missing account returns 'missing': the caller creates it and calls again.
    CREATE FUNCTION tuma_post_journal(
      p_journal uuid, p_currency char(3), p_keys text[], p_ids uuid[], p_debit int[], p_credit int[], p_amounts int8[],
      p_codes text[], p_batch_ids uuid[], p_payout_ids uuid[], p_references text[]
    ) RETURNS text LANGUAGE plpgsql
    -- Every statement here is a keyed lookup. With a chunk's 1,000 ids the planner prices a
    -- sequential scan of transfers below 1,000 index probes and picks it: each chunk then costs
    -- a scan of the whole table (seen: 0.5 s per chunk at 150k transfers). Keys only, always.
    SET enable_seqscan = off
    AS $fn$
    DECLARE
      n int := cardinality(p_ids);
      k int := cardinality(p_keys);
      a_ids int8[]; a_d int8[]; a_c int8[]; a_dflag bool[]; a_cflag bool[]; a_closed bool[];
      r record;
      di int; ci int; amt int8; locked int := 0;
      v_debit int8[]; v_credit int8[]; v_dd int8[]; v_dc int8[]; v_cd int8[]; v_cc int8[];
      stored int; same int;
      max_total constant int8 := 9223372036854775807;
    BEGIN
      IF n IS NULL OR n = 0 OR k IS NULL OR cardinality(p_debit) <> n OR cardinality(p_credit) <> n OR cardinality(p_amounts) <> n
         OR cardinality(p_codes) <> n OR cardinality(p_batch_ids) <> n OR cardinality(p_payout_ids) <> n OR cardinality(p_references) <> n THEN
        RAISE EXCEPTION 'tuma_post_journal: the transfer arrays differ in length' USING ERRCODE = 'invalid_parameter_value';
      END IF;

      -- 1. lock, in id order
      FOR r IN SELECT id, key, debits_posted, credits_posted, debits_must_not_exceed_credits AS df, credits_must_not_exceed_debits AS cf, closed
               FROM accounts WHERE currency = p_currency AND key = ANY(p_keys) ORDER BY id FOR UPDATE LOOP
        di := array_position(p_keys, r.key);
        a_ids[di] := r.id; a_d[di] := r.debits_posted; a_c[di] := r.credits_posted;
        a_dflag[di] := r.df; a_cflag[di] := r.cf; a_closed[di] := r.closed;
        locked := locked + 1;
      END LOOP;
      IF locked < k THEN RETURN 'missing'; END IF;

      -- 2. idempotency, under the locks
      SELECT count(*) INTO stored FROM transfers WHERE id = ANY(p_ids);
      IF stored > 0 THEN
        SELECT count(*) INTO same
          FROM unnest(p_ids, p_debit, p_credit, p_amounts, p_codes, p_batch_ids, p_payout_ids, p_references)
                 AS p(id, debit, credit, amount, code, batch_id, payout_id, reference)
          JOIN transfers t ON t.id = p.id
         WHERE t.journal_id = p_journal AND t.currency = p_currency AND t.debit_account_id = a_ids[p.debit]
           AND t.credit_account_id = a_ids[p.credit] AND t.amount = p.amount AND t.code = p.code
           AND t.batch_id IS NOT DISTINCT FROM p.batch_id AND t.payout_id IS NOT DISTINCT FROM p.payout_id
           AND t.reference IS NOT DISTINCT FROM p.reference;
        IF stored = n AND same = n THEN RETURN 'replayed'; END IF;
        RETURN 'conflict';
      END IF;

      -- 3. apply in order
      FOR i IN 1 .. n LOOP
        di := p_debit[i]; ci := p_credit[i]; amt := p_amounts[i];
        IF di IS NULL OR ci IS NULL OR di NOT BETWEEN 1 AND k OR ci NOT BETWEEN 1 AND k OR di = ci OR amt IS NULL OR amt <= 0 THEN
          RAISE EXCEPTION 'tuma_post_journal: transfer % is not a positive amount between two accounts', p_ids[i] USING ERRCODE = 'check_violation';
        END IF;
        IF a_closed[di] THEN RETURN 'closed:' || p_keys[di]; END IF;
        IF a_closed[ci] THEN RETURN 'closed:' || p_keys[ci]; END IF;
        IF a_d[di] > max_total - amt THEN RETURN 'range:' || p_keys[di]; END IF;
        IF a_c[ci] > max_total - amt THEN RETURN 'range:' || p_keys[ci]; END IF;
        a_d[di] := a_d[di] + amt;
        a_c[ci] := a_c[ci] + amt;
        IF (a_dflag[di] AND a_d[di] > a_c[di]) OR (a_cflag[di] AND a_c[di] > a_d[di]) THEN RETURN 'insufficient:' || p_keys[di]; END IF;
        IF (a_dflag[ci] AND a_d[ci] > a_c[ci]) OR (a_cflag[ci] AND a_c[ci] > a_d[ci]) THEN RETURN 'insufficient:' || p_keys[ci]; END IF;
        v_debit[i] := a_ids[di]; v_credit[i] := a_ids[ci];
        v_dd[i] := a_d[di]; v_dc[i] := a_c[di]; v_cd[i] := a_d[ci]; v_cc[i] := a_c[ci];
      END LOOP;

      -- 4. write (a single transfer as plain VALUES: the cheapest plan there is)
      IF n = 1 THEN
        INSERT INTO transfers (id, journal_id, currency, debit_account_id, credit_account_id, amount, code, batch_id, payout_id, reference,
                               debit_debits_after, debit_credits_after, credit_debits_after, credit_credits_after)
        VALUES (p_ids[1], p_journal, p_currency, v_debit[1], v_credit[1], p_amounts[1], p_codes[1], p_batch_ids[1], p_payout_ids[1],
                p_references[1], v_dd[1], v_dc[1], v_cd[1], v_cc[1]);
      ELSE
        INSERT INTO transfers (id, journal_id, currency, debit_account_id, credit_account_id, amount, code, batch_id, payout_id, reference,
                               debit_debits_after, debit_credits_after, credit_debits_after, credit_credits_after)
        SELECT t.id, p_journal, p_currency, t.debit, t.credit, t.amount, t.code, t.batch_id, t.payout_id, t.reference, t.dd, t.dc, t.cd, t.cc
        FROM unnest(p_ids, v_debit, v_credit, p_amounts, p_codes, p_batch_ids, p_payout_ids, p_references, v_dd, v_dc, v_cd, v_cc)
               WITH ORDINALITY AS t(id, debit, credit, amount, code, batch_id, payout_id, reference, dd, dc, cd, cc, ord)
        ORDER BY t.ord;
      END IF;
      FOR i IN 1 .. k LOOP
        UPDATE accounts SET debits_posted = a_d[i], credits_posted = a_c[i] WHERE id = a_ids[i];
      END LOOP;
      RETURN 'posted';
    END
    $fn$;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}
