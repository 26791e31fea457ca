-- Effects of 20250708125448 (deploy): a deployments table (public for now) and the
-- per-project callback URL.
CREATE TABLE public.deployments (
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    project_id    uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT timezone('utc', now()),
    shutdown_time timestamptz,
    image_id      text,
    is_active     boolean NOT NULL DEFAULT true,
    build_log     text,
    CONSTRAINT deployments_pkey PRIMARY KEY (id),
    CONSTRAINT deployments_project_id_fkey FOREIGN KEY (project_id)
        REFERENCES public.projects (id) ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX deployments_project_id_idx ON public.deployments (project_id);
ALTER TABLE public.projects ADD COLUMN user_callback_url text;
