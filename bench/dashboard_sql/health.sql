-- Rendered by bench/bench_dashboard.py for the period 2025-12-01 – 2026-11-23 ("12m") and the previous
-- period 2024-12-08 – 2025-11-30; local days in America/Sao_Paulo. Run: psql -X -d postgres://postgres@127.0.0.1:5432/posvenda_book_bench -f bench/dashboard_sql/health.sql
-- Health distribution and the 10 lowest red scores with the measure that cost each the most.
SELECT 'band' AS part, band AS a, count(*)::text AS b, NULL AS c, NULL AS d
FROM metrics_healthscore GROUP BY band
UNION ALL
(SELECT 'risk', h.customer_id::text, h.score::text, c.name,
        (SELECT e->>'measure' FROM jsonb_array_elements(h.components) e
         WHERE (e->>'down')::boolean
         ORDER BY coalesce((e->>'lost')::numeric, 0) DESC, e->>'measure' LIMIT 1)
 FROM metrics_healthscore h JOIN customers_customer c ON c.id = h.customer_id
 WHERE h.band = 'red'
 ORDER BY h.score, h.customer_id
 LIMIT 10);
