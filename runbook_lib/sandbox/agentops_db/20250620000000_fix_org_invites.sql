-- Effects of 20250620000000 (fix_org_invites): the columns get the names of what they hold,
-- the key becomes one invite per (org, invitee email), and a creation timestamp is added.
BEGIN;
ALTER TABLE public.org_invites DROP CONSTRAINT org_invites_pkey;
ALTER TABLE public.org_invites DROP CONSTRAINT org_invites_users_id_fkey;
ALTER TABLE public.org_invites RENAME COLUMN user_id TO inviter_id;
ALTER TABLE public.org_invites RENAME COLUMN inviter TO invitee_email;
ALTER TABLE public.org_invites ADD CONSTRAINT org_invites_pkey PRIMARY KEY (org_id, invitee_email);
CREATE INDEX idx_org_invites_inviter_id ON public.org_invites (inviter_id);
CREATE INDEX idx_org_invites_invitee_email ON public.org_invites (invitee_email);
ALTER TABLE public.org_invites ADD CONSTRAINT org_invites_inviter_id_fkey FOREIGN KEY (inviter_id)
    REFERENCES auth.users (id) ON UPDATE CASCADE ON DELETE CASCADE;
ALTER TABLE public.org_invites ADD COLUMN created_at timestamptz DEFAULT now();
COMMIT;
