"""PostgreSQL helpers for the AgentOps Supabase database (psycopg 3)."""
