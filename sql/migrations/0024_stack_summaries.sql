-- 0024: the stack as the API shows it (GET stack, Pulumi's Stack), in one place for the two
-- statements that read it: the query by name (get_stack) and the authentication statement, which
-- answers GET stack in the same round trip as the caller's permission (sql/queries/auth.sql).
-- Live stacks only (a deleted one, migration 0019, answers nothing).
-- The active update is the running one whenever there is one, whatever active_update_id says.
CREATE VIEW stack_summaries AS
SELECT s.id, o.name AS org_name, p.name AS project_name, s.name AS stack_name,
       s.tags, s.version, coalesce(r.id, s.active_update_id) AS active_update_id,
       r.id AS running_update_id, r.kind AS op_kind, ru.login AS op_author, r.start_time AS op_started,
       (SELECT c.resource_count FROM checkpoints c
         WHERE c.stack_id = s.id ORDER BY c.version DESC LIMIT 1) AS resource_count
  FROM stacks s
  JOIN projects p ON p.id = s.project_id
  JOIN organizations o ON o.id = p.org_id
  LEFT JOIN updates r ON r.stack_id = s.id AND r.status = 'running' AND NOT r.dry_run
  LEFT JOIN users ru ON ru.id = r.initiator_id
 WHERE s.deleted_at IS NULL;
