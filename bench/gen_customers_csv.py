#!/usr/bin/env python3
"""Write an N-row customers CSV in the importer's format (see docs/import.md).

    .venv/bin/python bench/gen_customers_csv.py 100000 bench/data/customers_100k.csv

Columns: external_id,kind,name,document,email,phone,owner,segment,tags,plan,mrr. One row in three
is a company with a valid CNPJ, the rest are people with a valid CPF; names are pt-BR (Faker's
pt_BR name lists combined with a seeded RNG, which is ~50x faster than calling Faker per row).
Deterministic for a given N and --seed. Owners are the bench users created by bench_import.py
(bench_agente1..3, bench_gerente); segments and tags are created on the fly by the importer.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
import unicodedata
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faker.providers.person.pt_BR import Provider as PersonProvider  # noqa: E402

from customers.validators import make_cnpj, make_cpf  # noqa: E402

COLUMNS = ["external_id", "kind", "name", "document", "email", "phone", "owner", "segment", "tags", "plan", "mrr"]
OWNERS = ["bench_agente1", "bench_agente2", "bench_agente3", "bench_gerente", ""]
SEGMENTS_COMPANY = ["Varejo", "PME", "PME", "Enterprise"]
SEGMENTS_PERSON = ["E-commerce B2C", "E-commerce B2C", "Varejo", ""]
TAGS = ["VIP", "Indicação", "Risco de churn", "Black Friday", "Primeira compra", "Promotor"]
BUSINESS = ["Padaria", "Distribuidora", "Construtora", "Farmácia", "Auto Peças", "Clínica", "Escola", "Ótica"]
SUFFIXES = ["Ltda.", "Ltda.", "S.A.", "- ME", "EIRELI"]
B2B_PLANS = [("Essencial", 290, 690), ("Pro", 890, 2490), ("Enterprise", 4900, 18900)]
DDDS = ["11", "11", "21", "31", "41", "47", "51", "61", "71", "81", "85", "91", "19", "27"]
# Seeds start high enough that no CPF base is all-equal digits (111111111 is never reached).
CPF_SEED_BASE = 200_000_000
CNPJ_SEED_BASE = 20_000_000


def _first_names() -> list[str]:
    return list(dict.fromkeys([*PersonProvider.first_names_female, *PersonProvider.first_names_male]))


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


def rows(n: int, *, seed: int = 42) -> Iterator[list[str]]:
    rng = random.Random(seed)
    first_names = _first_names()
    last_names = list(dict.fromkeys(PersonProvider.last_names))
    for i in range(1, n + 1):
        ext = f"BENCH-{i:07d}"
        phone = f"+55 {rng.choice(DDDS)} 9{rng.choice('6789')}{rng.randrange(1000):03d}-{rng.randrange(10000):04d}"
        if i % 3 == 1:
            surname = rng.choice(last_names)  # e.g. "Padaria Almeida Ltda."
            plan, low, high = rng.choice(B2B_PLANS)
            mrr = Decimal(rng.randrange(low * 100, high * 100)) / 100
            doc = make_cnpj(CNPJ_SEED_BASE + i)
            yield [
                ext,
                "company",
                f"{rng.choice(BUSINESS)} {surname} {rng.choice(SUFFIXES)}",
                f"{doc[:2]}.{doc[2:5]}.{doc[5:8]}/{doc[8:12]}-{doc[12:]}",
                f"contato{i}@{_ascii(surname)}.example.com",
                phone,
                rng.choice(OWNERS),
                rng.choice(SEGMENTS_COMPANY),
                ";".join(sorted(rng.sample(TAGS, k=rng.choice((0, 1, 1, 2))))),
                plan,
                f"{mrr:.2f}",
            ]
        else:
            first, last = rng.choice(first_names), rng.choice(last_names)
            doc = make_cpf(CPF_SEED_BASE + i)
            yield [
                ext,
                "person",
                f"{first} {rng.choice(last_names)} {last}" if rng.random() < 0.4 else f"{first} {last}",
                f"{doc[:3]}.{doc[3:6]}.{doc[6:9]}-{doc[9:]}",
                f"{_ascii(first)}.{_ascii(last)}{i}@example.com",
                phone if rng.random() < 0.9 else "",
                rng.choice(OWNERS),
                rng.choice(SEGMENTS_PERSON),
                ";".join(sorted(rng.sample(TAGS, k=rng.choice((0, 0, 1))))),
                "Clube" if rng.random() < 0.1 else "",
                "29.90" if rng.random() < 0.1 else "0.00",
            ]


def write_csv(n: int, out: Path, *, seed: int = 42) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(rows(n, seed=seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int, help="number of customer rows")
    parser.add_argument("out", type=Path, help="CSV file to write")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    started = time.monotonic()
    write_csv(args.n, args.out, seed=args.seed)
    print(f"wrote {args.n} rows to {args.out} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
