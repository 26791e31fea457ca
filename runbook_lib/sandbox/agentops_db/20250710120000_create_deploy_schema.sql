-- Effects of 20250710120000 (create_deploy_schema): schema deploy, deploy.projects, and the
-- deployments table moved into it.
CREATE SCHEMA deploy;
CREATE TABLE deploy.projects (
    id                       uuid NOT NULL,
    github_oath_access_token text,
    user_callback_url        text,
    watch_path               text,
    entrypoint               text,
    git_branch               text,
    git_url                  text,
    CONSTRAINT projects_pkey PRIMARY KEY (id),
    CONSTRAINT projects_id_fkey FOREIGN KEY (id)
        REFERENCES public.projects (id) ON UPDATE CASCADE ON DELETE CASCADE
);
ALTER TABLE public.deployments SET SCHEMA deploy;
