-- The database's copy of the call state machine (0014) learns `awaiting_input` (added in 0015, usable
-- from here): a task waiting for its client's answers becomes queued (every answer in), failed or
-- cancelled, like a call awaiting approval. `call-states-schema.test.ts` checks every pair again.
CREATE OR REPLACE FUNCTION tool_calls_transition_allowed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (OLD.status::text, NEW.status::text) IN (
    ('queued', 'running'), ('queued', 'succeeded'), ('queued', 'failed'), ('queued', 'cancelled'),
    ('running', 'queued'), ('running', 'succeeded'), ('running', 'failed'), ('running', 'cancelled'),
    ('awaiting_approval', 'queued'), ('awaiting_approval', 'failed'), ('awaiting_approval', 'cancelled'),
    ('awaiting_input', 'queued'), ('awaiting_input', 'failed'), ('awaiting_input', 'cancelled')
  ) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'tool_calls: a call cannot move from % to %', OLD.status, NEW.status USING ERRCODE = 'check_violation';
END
$$;
