-- 0026: the stack permission rule as one function, shared by the authentication statement
-- (sql/queries/auth.sql) and the console's (sql/queries/console.sql), which each spelled it out
-- before: a caller's permission on a stack (Pulumi's 0 none, 101 read, 102 write, 103 admin)
-- from their role in its organization (NULL: none), the kind of their token, the organization's
-- default_stack_permission and the highest grant of their teams on it. Admins (and admin
-- organization tokens) 103; an organization token 102; a team token its team's grants only;
-- a member the default; a viewer the default but at most read; each with their teams' grants
-- on top. Environments have theirs in 0025.
CREATE FUNCTION stack_permission(role text, token_kind text, default_permission integer,
                                 granted integer)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
             WHEN role IS NULL THEN NULL
             WHEN role = 'admin' THEN 103
             WHEN token_kind = 'organization' THEN 102
             ELSE greatest(CASE WHEN token_kind = 'team' THEN 0
                                WHEN role = 'member' THEN default_permission
                                ELSE least(default_permission, 101) END,
                           coalesce(granted, 0))
           END
$$;
