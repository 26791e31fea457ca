-- Effects of 20250711235412 (add_usage_billing): usage tracking (dropped again by 20250712220000)
-- and billing period snapshots.
CREATE TABLE public.org_usage_tracking (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    usage_type   varchar(50) NOT NULL,
    quantity     bigint NOT NULL DEFAULT 0,
    period_start timestamp NOT NULL,
    period_end   timestamp NOT NULL,
    created_at   timestamp DEFAULT CURRENT_TIMESTAMP,
    updated_at   timestamp DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT org_usage_tracking_pkey PRIMARY KEY (id),
    CONSTRAINT org_usage_tracking_org_id_usage_type_period_start_key UNIQUE (org_id, usage_type, period_start),
    CONSTRAINT org_usage_tracking_org_id_fkey FOREIGN KEY (org_id) REFERENCES public.orgs (id) ON DELETE CASCADE
);
CREATE TABLE public.billing_periods (
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL,
    period_start      timestamp NOT NULL,
    period_end        timestamp NOT NULL,
    stripe_invoice_id varchar(255),
    seat_cost         integer NOT NULL DEFAULT 0,
    seat_count        integer NOT NULL DEFAULT 0,
    usage_costs       jsonb NOT NULL DEFAULT '{}',
    usage_quantities  jsonb NOT NULL DEFAULT '{}',
    total_cost        integer NOT NULL DEFAULT 0,
    status            varchar(20) DEFAULT 'pending',
    invoiced_at       timestamp,
    created_at        timestamp DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT billing_periods_pkey PRIMARY KEY (id),
    CONSTRAINT billing_periods_org_id_period_start_key UNIQUE (org_id, period_start),
    CONSTRAINT billing_periods_org_id_fkey FOREIGN KEY (org_id) REFERENCES public.orgs (id) ON DELETE CASCADE
);
CREATE INDEX idx_billing_periods_org ON public.billing_periods (org_id, period_end DESC);
CREATE INDEX idx_usage_tracking_rollup ON public.org_usage_tracking (org_id, period_end, usage_type);
ALTER TABLE public.org_usage_tracking ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.billing_periods ENABLE ROW LEVEL SECURITY;
