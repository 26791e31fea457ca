-- Effects of 20250712220000 (cleanup_usage_tracking): usage tracking moves elsewhere.
BEGIN;
DROP TABLE IF EXISTS public.org_usage_tracking;
COMMIT;
