-- Rendered by bench/bench_dashboard.py for the period 2025-12-01 – 2026-11-23 ("12m") and the previous
-- period 2024-12-08 – 2025-11-30; local days in America/Sao_Paulo. Run: psql -X -d postgres://postgres@127.0.0.1:5432/posvenda_book_bench -f bench/dashboard_sql/reviews.sql
-- Average review rating (both periods): reviews and the sum of their ratings per source.
SELECT (reviewed_at >= timestamptz '2025-12-01T00:00:00-03:00')::int AS bucket, source, count(*), sum(rating)
FROM metrics_review
WHERE reviewed_at >= timestamptz '2024-12-08T00:00:00-03:00' AND reviewed_at < timestamptz '2026-11-24T00:00:00-03:00'
GROUP BY 1, 2;
