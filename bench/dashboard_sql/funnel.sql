-- Rendered by bench/bench_dashboard.py for the period 2025-12-01 – 2026-11-23 ("12m") and the previous
-- period 2024-12-08 – 2025-11-30; local days in America/Sao_Paulo. Run: psql -X -d postgres://postgres@127.0.0.1:5432/posvenda_book_bench -f bench/dashboard_sql/funnel.sql
-- Funnel chart: customers per stage now, and per stage the customers who entered it in the period
-- and, of those, who moved on to a later stage after their first entry and before the period's end.
SELECT 'stage' AS part, stage, count(*) AS n, NULL::bigint AS advanced
FROM customers_customer GROUP BY stage
UNION ALL
SELECT 'flow', v.stage, v.entered, v.advanced
FROM (
    SELECT count(in0) AS t0, count(*) FILTER (WHERE later0 > in0) AS t1, count(in1) AS t2, count(*) FILTER (WHERE later1 > in1) AS t3, count(in2) AS t4, count(*) FILTER (WHERE later2 > in2) AS t5, count(in3) AS t6, NULL::bigint AS t7, count(in4) AS t8, NULL::bigint AS t9
    FROM (
        SELECT customer_id, min(changed_at) FILTER (WHERE to_stage = 'adoption') AS in0, max(changed_at) FILTER (WHERE to_stage IN ('retention', 'expansion', 'evangelization')) AS later0, min(changed_at) FILTER (WHERE to_stage = 'retention') AS in1, max(changed_at) FILTER (WHERE to_stage IN ('expansion', 'evangelization')) AS later1, min(changed_at) FILTER (WHERE to_stage = 'expansion') AS in2, max(changed_at) FILTER (WHERE to_stage IN ('evangelization')) AS later2, min(changed_at) FILTER (WHERE to_stage = 'evangelization') AS in3, min(changed_at) FILTER (WHERE to_stage = 'churned') AS in4
        FROM funnel_stagechange
        WHERE changed_at >= timestamptz '2025-12-01T00:00:00-03:00' AND changed_at < timestamptz '2026-11-24T00:00:00-03:00'
        GROUP BY customer_id
    ) per_customer
) totals,
LATERAL (VALUES ('adoption', t0, t1), ('retention', t2, t3), ('expansion', t4, t5), ('evangelization', t6, t7), ('churned', t8, t9)) AS v(stage, entered, advanced);
