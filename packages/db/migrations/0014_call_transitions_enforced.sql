-- The call state machine, enforced by the database: an UPDATE that moves a call between two states the
-- table in @mcprt/calls (CALL_TRANSITIONS) does not join is refused, for every role and every path
-- (a statement with a wrong fence, a hand-written fix-up, a new surface), so a final call can never be
-- reopened and an unapproved call never reaches `running`. A row that keeps its state (an attempt
-- re-marking the row it owns) does not reach the function: the trigger's WHEN leaves it out, so the hot
-- path's same-state writes pay nothing. `call-states-schema.test.ts` tries every pair of states against
-- this trigger and compares the answers with the table.
CREATE OR REPLACE FUNCTION tool_calls_transition_allowed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (OLD.status::text, NEW.status::text) IN (
    ('queued', 'running'), ('queued', 'succeeded'), ('queued', 'failed'), ('queued', 'cancelled'),
    ('running', 'queued'), ('running', 'succeeded'), ('running', 'failed'), ('running', 'cancelled'),
    ('awaiting_approval', 'queued'), ('awaiting_approval', 'failed'), ('awaiting_approval', 'cancelled')
  ) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'tool_calls: a call cannot move from % to %', OLD.status, NEW.status USING ERRCODE = 'check_violation';
END
$$;
--> statement-breakpoint
CREATE TRIGGER tool_calls_transition_allowed BEFORE UPDATE OF status ON tool_calls
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION tool_calls_transition_allowed();
