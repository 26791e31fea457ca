-- The AgentOps public schema as it stands after migration 20250311082912 (projects_performance),
-- limited to the objects the API maps plus the enums. org_invites has its pre-20250620 shape:
-- user_id holds the inviter's id, inviter holds the invitee's email, PK (user_id, org_id).

CREATE TYPE public.pricing_plan_interval AS ENUM ('day', 'week', 'month', 'year');
CREATE TYPE public.pricing_type AS ENUM ('one_time', 'recurring');
CREATE TYPE public.subscription_status AS ENUM (
    'trialing', 'active', 'canceled', 'incomplete', 'incomplete_expired', 'past_due', 'unpaid', 'paused');
CREATE TYPE public.trigger_event_type AS ENUM ('actions', 'llms', 'tools');
CREATE TYPE public.environment AS ENUM ('production', 'staging', 'development', 'community');
CREATE TYPE public.end_state AS ENUM ('Success', 'Fail', 'Indeterminate');
CREATE TYPE public.org_roles AS ENUM ('owner', 'admin', 'developer', 'business_user');
CREATE TYPE public.prem_status AS ENUM ('free', 'pro', 'enterprise');

CREATE TABLE public.orgs (
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    prem_status public.prem_status NOT NULL DEFAULT 'free',
    CONSTRAINT orgs_pkey PRIMARY KEY (id)
);

CREATE TABLE public.user_orgs (
    user_id    uuid NOT NULL,
    org_id     uuid NOT NULL,
    role       public.org_roles NOT NULL DEFAULT 'owner',
    user_email text,
    CONSTRAINT user_orgs_pkey PRIMARY KEY (user_id, org_id),
    CONSTRAINT user_orgs_users_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT user_orgs_org_id_fkey FOREIGN KEY (org_id)
        REFERENCES public.orgs (id) ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX user_orgs_org_id_idx ON public.user_orgs (org_id);
CREATE INDEX user_orgs_user_id_idx ON public.user_orgs (user_id);
CREATE INDEX idx_user_orgs_user_id_org_id ON public.user_orgs (user_id, org_id);

CREATE TABLE public.projects (
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    api_key     uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    environment public.environment NOT NULL DEFAULT 'development',
    CONSTRAINT projects_pkey PRIMARY KEY (id),
    CONSTRAINT projects_api_key_key UNIQUE (api_key),
    CONSTRAINT projects_org_id_fkey FOREIGN KEY (org_id)
        REFERENCES public.orgs (id) ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX projects_org_id_idx ON public.projects (org_id);
CREATE INDEX idx_projects_id ON public.projects (id);

CREATE TABLE public.users (
    id                 uuid NOT NULL,
    full_name          text,
    avatar_url         text,
    billing_address    jsonb,
    payment_method     jsonb,
    email              text DEFAULT '',
    survey_is_complete boolean NOT NULL DEFAULT false,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_id_fkey FOREIGN KEY (id)
        REFERENCES auth.users (id) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE public.org_invites (
    user_id  uuid NOT NULL,
    org_id   uuid NOT NULL,
    role     public.org_roles NOT NULL,
    org_name text NOT NULL,
    inviter  text NOT NULL,
    CONSTRAINT org_invites_pkey PRIMARY KEY (user_id, org_id),
    CONSTRAINT org_invites_users_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT org_invites_org_id_fkey FOREIGN KEY (org_id)
        REFERENCES public.orgs (id) ON UPDATE CASCADE ON DELETE CASCADE
);

ALTER TABLE public.orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.user_orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.org_invites ENABLE ROW LEVEL SECURITY;

-- One policy that names an old column, so that renames are exercised with a dependent policy.
CREATE POLICY "invitation readers" ON public.org_invites FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid()));
