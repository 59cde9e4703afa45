-- Teams of an organization: the teams, their members, their grants on stacks.

-- name: teams_of_org
-- An organization's teams, with the role of :user_id in each ('none' when not a member).
SELECT t.id, t.name, t.display_name, t.description,
       coalesce(tm.role, 'none') AS user_role
  FROM teams t
  LEFT JOIN team_members tm ON tm.team_id = t.id AND tm.user_id = :user_id
 WHERE t.org_id = :org_id
 ORDER BY t.name;

-- name: insert_team^
-- Nothing is returned when the organization has a team of that name.
INSERT INTO teams (org_id, name, display_name, description)
VALUES (:org_id, :name, :display_name, :description)
ON CONFLICT (org_id, name) DO NOTHING
RETURNING id, name, display_name, description;

-- name: team_by_name^
SELECT t.id, t.org_id, t.name, t.display_name, t.description
  FROM teams t
 WHERE t.org_id = :org_id AND t.name = :name;

-- name: update_team!
-- NULL leaves a field as it is.
UPDATE teams
   SET display_name = coalesce(:display_name, display_name),
       description  = coalesce(:description, description)
 WHERE id = :team_id;

-- name: delete_team!
-- Its members and grants go with it (ON DELETE CASCADE); its tokens were revoked first.
DELETE FROM teams WHERE id = :team_id;

-- name: team_members
SELECT u.login, u.name, u.email, tm.role
  FROM team_members tm
  JOIN users u ON u.id = tm.user_id
 WHERE tm.team_id = :team_id
 ORDER BY u.login;

-- name: add_team_member^
-- Nothing is returned when the user is in the team already. The foreign key to memberships
-- refuses a user who is not a member of the organization.
INSERT INTO team_members (team_id, org_id, user_id, role)
VALUES (:team_id, :org_id, :user_id, 'member')
ON CONFLICT (team_id, user_id) DO NOTHING
RETURNING user_id;

-- name: set_team_member_role$
UPDATE team_members SET role = :role
 WHERE team_id = :team_id AND user_id = :user_id
RETURNING user_id;

-- name: remove_team_member$
DELETE FROM team_members
 WHERE team_id = :team_id AND user_id = :user_id
RETURNING user_id;

-- name: team_stacks
-- The team's grants, by project and stack name (a deleted stack's wait for its restore).
SELECT p.name AS project_name, s.name AS stack_name, tsp.permission
  FROM team_stack_permissions tsp
  JOIN stacks s ON s.id = tsp.stack_id AND s.deleted_at IS NULL
  JOIN projects p ON p.id = s.project_id
 WHERE tsp.team_id = :team_id
 ORDER BY p.name, s.name;

-- name: add_team_stack_permission$
-- Nothing is returned when the team has a grant on the stack already.
INSERT INTO team_stack_permissions (team_id, stack_id, permission)
VALUES (:team_id, :stack_id, :permission)
ON CONFLICT (team_id, stack_id) DO NOTHING
RETURNING stack_id;

-- name: set_team_stack_permission!
-- Grant, or change, the team's permission on the stack.
INSERT INTO team_stack_permissions (team_id, stack_id, permission)
VALUES (:team_id, :stack_id, :permission)
ON CONFLICT (team_id, stack_id) DO UPDATE SET permission = excluded.permission;

-- name: edit_team_stack_permission$
UPDATE team_stack_permissions SET permission = :permission
 WHERE team_id = :team_id AND stack_id = :stack_id
RETURNING stack_id;

-- name: remove_team_stack_permission$
DELETE FROM team_stack_permissions
 WHERE team_id = :team_id AND stack_id = :stack_id
RETURNING stack_id;

-- name: grant_teams_on_stack
-- The teams of the stack's organization named in :names (an array) get :permission on the
-- stack; the names found are returned, so that the caller can refuse the others.
INSERT INTO team_stack_permissions (team_id, stack_id, permission)
SELECT t.id, s.id, :permission
  FROM stacks s
  JOIN projects p ON p.id = s.project_id
  JOIN teams t ON t.org_id = p.org_id
 WHERE s.id = :stack_id AND t.name = ANY(:names)
ON CONFLICT (team_id, stack_id) DO UPDATE SET permission = greatest(
    team_stack_permissions.permission, excluded.permission)
RETURNING (SELECT name FROM teams WHERE id = team_id) AS name;

-- name: stack_teams
-- The teams with a grant on the stack, and whether :user_id is in each.
SELECT t.name, t.display_name, t.description, tsp.permission,
       EXISTS (SELECT 1 FROM team_members tm
                WHERE tm.team_id = t.id AND tm.user_id = :user_id) AS is_member
  FROM team_stack_permissions tsp
  JOIN teams t ON t.id = tsp.team_id
 WHERE tsp.stack_id = :stack_id
 ORDER BY t.name;

-- name: team_environments
-- The team's grants on environments (1 read, 2 open, 3 write, 4 admin), by project and name.
SELECT e.project AS project_name, e.name AS env_name, tep.permission
  FROM team_environment_permissions tep
  JOIN environments e ON e.id = tep.environment_id
 WHERE tep.team_id = :team_id
 ORDER BY e.project, e.name;

-- name: add_team_environment_permission$
-- Nothing is returned when the team has a grant on the environment already. The foreign keys
-- refuse an environment of another organization than the team's.
INSERT INTO team_environment_permissions (team_id, environment_id, org_id, permission)
VALUES (:team_id, :environment_id, :org_id, :permission)
ON CONFLICT (team_id, environment_id) DO NOTHING
RETURNING environment_id;

-- name: set_team_environment_permission!
-- Grant, or change, the team's permission on the environment.
INSERT INTO team_environment_permissions (team_id, environment_id, org_id, permission)
VALUES (:team_id, :environment_id, :org_id, :permission)
ON CONFLICT (team_id, environment_id) DO UPDATE SET permission = excluded.permission;

-- name: edit_team_environment_permission$
UPDATE team_environment_permissions SET permission = :permission
 WHERE team_id = :team_id AND environment_id = :environment_id
RETURNING environment_id;

-- name: remove_team_environment_permission$
DELETE FROM team_environment_permissions
 WHERE team_id = :team_id AND environment_id = :environment_id
RETURNING environment_id;
