-- Effects of 20250711231118 (add_per_seat_billing): paid seats on memberships, billing audit log,
-- webhook idempotency table, the org's Stripe subscription id; paid flag backfilled for owners
-- (or the first admin when an org has no owner) of pro orgs.
BEGIN;
ALTER TABLE public.user_orgs ADD COLUMN is_paid boolean DEFAULT false;
CREATE TABLE public.billing_audit_logs (
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    action     varchar(50) NOT NULL,
    details    jsonb NOT NULL,
    created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT billing_audit_logs_pkey PRIMARY KEY (id),
    CONSTRAINT billing_audit_logs_org_id_fkey FOREIGN KEY (org_id) REFERENCES public.orgs (id),
    CONSTRAINT billing_audit_logs_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id)
);
CREATE TABLE public.webhook_events (
    event_id     varchar NOT NULL,
    processed_at timestamptz DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT webhook_events_pkey PRIMARY KEY (event_id)
);
CREATE INDEX idx_user_orgs_is_paid ON public.user_orgs (org_id, is_paid);
CREATE INDEX idx_billing_audit_logs_org_id ON public.billing_audit_logs (org_id);
CREATE INDEX idx_webhook_events_processed_at ON public.webhook_events (processed_at);
ALTER TABLE public.billing_audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.webhook_events ENABLE ROW LEVEL SECURITY;
UPDATE public.user_orgs AS m SET is_paid = true
  FROM public.orgs AS o
 WHERE m.org_id = o.id AND o.prem_status = 'pro' AND m.role = 'owner';
UPDATE public.user_orgs AS m SET is_paid = true
  FROM (SELECT DISTINCT ON (a.org_id) a.org_id, a.user_id
          FROM public.user_orgs AS a JOIN public.orgs AS o ON o.id = a.org_id
         WHERE a.role = 'admin' AND o.prem_status = 'pro'
           AND NOT EXISTS (SELECT 1 FROM public.user_orgs AS w WHERE w.org_id = a.org_id AND w.role = 'owner')
         ORDER BY a.org_id, a.user_id) AS first_admin
 WHERE m.org_id = first_admin.org_id AND m.user_id = first_admin.user_id;
ALTER TABLE public.orgs ADD COLUMN IF NOT EXISTS subscription_id text;
COMMIT;
