-- Rendered by bench/bench_dashboard.py for the period 2025-12-01 – 2026-11-23 ("12m") and the previous
-- period 2024-12-08 – 2025-11-30; local days in America/Sao_Paulo. Run: psql -X -d postgres://postgres@127.0.0.1:5432/posvenda_book_bench -f bench/dashboard_sql/tickets_resolved.sql
-- TMR, first response (means and medians), SLA met (both periods), TMR and SLA trend per month.
SELECT cur, bucket, grouping(bucket) AS whole, count(*),
       sum(resolution_seconds), count(resolution_seconds),
       sum(resolution_business_seconds), count(resolution_business_seconds),
       sum(first_response_seconds), count(first_response_seconds),
       count(*) FILTER (WHERE sla_policy_id IS NOT NULL),
       count(*) FILTER (WHERE sla_policy_id IS NOT NULL AND NOT first_response_breached AND NOT resolution_breached),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_seconds)
FROM (
    SELECT resolved_at >= timestamptz '2025-12-01T00:00:00-03:00' AS cur, width_bucket(resolved_at, ARRAY[timestamptz '2025-12-01T00:00:00-03:00', timestamptz '2026-01-01T00:00:00-03:00', timestamptz '2026-02-01T00:00:00-03:00', timestamptz '2026-03-01T00:00:00-03:00', timestamptz '2026-04-01T00:00:00-03:00', timestamptz '2026-05-01T00:00:00-03:00', timestamptz '2026-06-01T00:00:00-03:00', timestamptz '2026-07-01T00:00:00-03:00', timestamptz '2026-08-01T00:00:00-03:00', timestamptz '2026-09-01T00:00:00-03:00', timestamptz '2026-10-01T00:00:00-03:00', timestamptz '2026-11-01T00:00:00-03:00']) AS bucket,
           resolution_seconds, resolution_business_seconds, first_response_seconds, sla_policy_id,
           first_response_breached, resolution_breached
    FROM support_ticket
    WHERE status IN ('resolved', 'closed') AND resolved_at >= timestamptz '2024-12-08T00:00:00-03:00' AND resolved_at < timestamptz '2026-11-24T00:00:00-03:00'
) t
GROUP BY GROUPING SETS ((cur), (cur, bucket));
