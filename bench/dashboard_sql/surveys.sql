-- Rendered by bench/bench_dashboard.py for the period 2025-12-01 – 2026-11-23 ("12m") and the previous
-- period 2024-12-08 – 2025-11-30; local days in America/Sao_Paulo. Run: psql -X -d postgres://postgres@127.0.0.1:5432/posvenda_book_bench -f bench/dashboard_sql/surveys.sql
-- NPS, CSAT, CES cards (both periods), NPS trend and distribution: answers per bucket, kind, score.
SELECT width_bucket(answered_at, ARRAY[timestamptz '2025-12-01T00:00:00-03:00', timestamptz '2026-01-01T00:00:00-03:00', timestamptz '2026-02-01T00:00:00-03:00', timestamptz '2026-03-01T00:00:00-03:00', timestamptz '2026-04-01T00:00:00-03:00', timestamptz '2026-05-01T00:00:00-03:00', timestamptz '2026-06-01T00:00:00-03:00', timestamptz '2026-07-01T00:00:00-03:00', timestamptz '2026-08-01T00:00:00-03:00', timestamptz '2026-09-01T00:00:00-03:00', timestamptz '2026-10-01T00:00:00-03:00', timestamptz '2026-11-01T00:00:00-03:00']) AS bucket, kind, score, count(*)
FROM surveys_response
WHERE answered_at >= timestamptz '2024-12-08T00:00:00-03:00' AND answered_at < timestamptz '2026-11-24T00:00:00-03:00' AND kind IN ('nps', 'csat', 'ces') AND score IS NOT NULL
GROUP BY 1, 2, 3;
