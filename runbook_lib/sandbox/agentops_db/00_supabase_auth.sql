-- Minimal stand-in for the parts of Supabase that the AgentOps migrations and API touch:
-- the auth schema (users, uid()/email()/jwt() helpers) and the API roles.
-- Written for the runbook sandbox; roles are cluster-wide, so creation is guarded.

DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['anon', 'authenticated', 'service_role', 'authenticator'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object THEN
                NULL;  -- created meanwhile by a concurrent build
            END;
        END IF;
    END LOOP;
END
$roles$;

CREATE SCHEMA auth;

CREATE TABLE auth.users (
    id                 uuid PRIMARY KEY,
    email              varchar(255),
    raw_user_meta_data jsonb,
    created_at         timestamptz DEFAULT now()
);

-- Supabase resolves these from the request's JWT claims; here they read the same settings.
CREATE FUNCTION auth.uid() RETURNS uuid
    LANGUAGE sql STABLE
    AS $fn$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $fn$;

CREATE FUNCTION auth.email() RETURNS text
    LANGUAGE sql STABLE
    AS $fn$ SELECT nullif(current_setting('request.jwt.claim.email', true), '') $fn$;

CREATE FUNCTION auth.jwt() RETURNS jsonb
    LANGUAGE sql STABLE
    AS $fn$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $fn$;

GRANT USAGE ON SCHEMA auth TO authenticated, service_role;
