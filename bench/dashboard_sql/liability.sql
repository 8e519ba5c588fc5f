-- Rendered by bench/bench_dashboard.py for the period 2025-12-01 – 2026-11-23 ("12m") and the previous
-- period 2024-12-08 – 2025-11-30; local days in America/Sao_Paulo. Run: psql -X -d postgres://postgres@127.0.0.1:5432/posvenda_book_bench -f bench/dashboard_sql/liability.sql
-- Loyalty liability today: the ledger's balance per currency, and the value of a point.
SELECT currency, sum(amount), (SELECT point_value FROM loyalty_programme ORDER BY id LIMIT 1)
FROM loyalty_entry GROUP BY currency;
