-- 009: completion callbacks (CONTRACT §7, issue 16): the callback URL and
-- the state of its latest delivery on the batch row, and an outbox of
-- deliveries written by a trigger in the transaction that ends the batch.
--
-- Why a trigger: a batch ends on many paths (a worker's finish, a bundle's
-- finish_many, the claim failing or cancelling an expired lease, a cancel
-- of a pending batch, a defer past max_retries). A row trigger on the
-- status change catches every one of them, present and future, in the same
-- transaction as the end: a crash loses no delivery, and UNIQUE (batch_id,
-- end_seq) means no node can create a second delivery for one end.
--
-- end_seq is the batch's retry_count when it ended: a batch leaves a
-- terminal state only by a retry, which bumps retry_count, so each end has
-- its own end_seq and a retried batch that ends again gets a new delivery
-- (a new id).
--
-- snapshot is the batch row as it was at that end (to_jsonb of the row the
-- ending statement wrote): the POSTed body is rendered from it, not from
-- the live row, so that every attempt of one delivery sends the same bytes
-- and the body says what its X-OGF-Event says, even after a retry has
-- moved the batch on to pending, processing or its next end. It is read
-- back with jsonb_populate_record(NULL::batch_jobs, snapshot): a later
-- migration that adds a batch_jobs column which the body reads sees NULL
-- in the snapshots of deliveries still pending, and must allow for it.

-- The batch's callback: its URL (NULL: none), and the status, attempts and
-- last error of the delivery of its latest end, mirrored here by the
-- deliverer so that GET and list read them from the batch row without a
-- join. Before the batch ends the API shows them as pending / 0 / null.
-- Constant defaults and no CHECK: adding them changes only the catalog, no
-- rewrite or scan of a large batch_jobs (the values are copied from
-- batch_callbacks, whose CHECKs hold them).
ALTER TABLE batch_jobs
  ADD COLUMN callback_url text,
  ADD COLUMN callback_status text NOT NULL DEFAULT 'pending',
  ADD COLUMN callback_attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN callback_last_error text;

-- The outbox: one row per end of a batch with a callback URL. The id is the
-- X-OGF-Delivery header, the same on every attempt.
-- next_attempt_at doubles as the lease: a claim moves it to the lease's
-- expiry, so a row being delivered is not due for anyone else until its
-- lease runs out (a node killed mid-delivery leaves it to be taken over);
-- lease_token fences the record of an attempt to the claim that made it.
CREATE TABLE batch_callbacks (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- deleting a batch drops its deliveries (there is nothing left to send)
  batch_id         uuid NOT NULL REFERENCES batch_jobs (id) ON DELETE CASCADE,
  end_seq          integer NOT NULL,
  event            text NOT NULL
    CHECK (event IN ('batch.completed', 'batch.failed', 'batch.cancelled')),
  url              text NOT NULL,
  snapshot         jsonb NOT NULL,
  status           text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  last_error       text,
  ended_at         timestamptz NOT NULL DEFAULT now(),
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_token      bigint NOT NULL DEFAULT 0,
  delivered_at     timestamptz,
  UNIQUE (batch_id, end_seq)
);
-- The deliverers' claim: due undelivered rows in order, whatever the size
-- of the table's history.
CREATE INDEX batch_callbacks_due_idx ON batch_callbacks (next_attempt_at)
  WHERE status = 'pending';

-- At the end of a batch with a callback: its callback state starts over
-- (the previous end's delivery is another event).
CREATE FUNCTION batch_callbacks_reset() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.callback_status := 'pending';
  NEW.callback_attempts := 0;
  NEW.callback_last_error := NULL;
  RETURN NEW;
END
$$;

-- ... and its delivery is queued, in the same transaction, with the row as
-- it is at the end (an AFTER trigger: after every BEFORE trigger, reset's
-- pending / 0 / null included, so the body's callback object is that).
CREATE FUNCTION batch_callbacks_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO batch_callbacks (batch_id, end_seq, event, url, snapshot)
  VALUES (NEW.id, NEW.retry_count, 'batch.' || NEW.status, NEW.callback_url,
          to_jsonb(NEW))
  ON CONFLICT (batch_id, end_seq) DO NOTHING;
  RETURN NULL;
END
$$;

-- Row triggers with a WHEN clause: statements that do not end a batch with
-- a callback (claims, records, renewals, ends of batches without one) call
-- no function at all.
CREATE TRIGGER batch_callbacks_reset
  BEFORE UPDATE OF status ON batch_jobs FOR EACH ROW
  WHEN (NEW.callback_url IS NOT NULL
        AND NEW.status IN ('completed', 'failed', 'cancelled')
        AND OLD.status NOT IN ('completed', 'failed', 'cancelled'))
  EXECUTE FUNCTION batch_callbacks_reset();
CREATE TRIGGER batch_callbacks_enqueue
  AFTER UPDATE OF status ON batch_jobs FOR EACH ROW
  WHEN (NEW.callback_url IS NOT NULL
        AND NEW.status IN ('completed', 'failed', 'cancelled')
        AND OLD.status NOT IN ('completed', 'failed', 'cancelled'))
  EXECUTE FUNCTION batch_callbacks_enqueue();
