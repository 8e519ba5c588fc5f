"""The zero-setup defaults of `make run` and the production guard rails of settings.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'],"
    " 'broker': settings.CELERY_BROKER_URL, 'cache': settings.CACHES['default']['BACKEND'],"
    " 'lang': settings.LANGUAGE_CODE, 'tz': settings.TIME_ZONE}))"
)


def _settings_with(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="posvenda.settings")
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_without_database_and_redis_urls_make_run_uses_sqlite_and_the_filesystem_broker():
    result = _settings_with({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["engine"] == "django.db.backends.sqlite3"
    assert probe["broker"] == "filesystem://"
    assert probe["cache"].endswith("LocMemCache")
    assert probe["lang"] == "pt-br"
    assert probe["tz"] == "America/Sao_Paulo"


def test_with_database_and_redis_urls_it_uses_postgresql_and_redis():
    result = _settings_with(
        {
            "DEBUG": "1",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/posvenda",
            "REDIS_URL": "redis://127.0.0.1:6379/5",
        }
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["engine"] == "django.db.backends.postgresql"
    assert probe["broker"] == "redis://127.0.0.1:6379/5"
    assert probe["cache"].endswith("RedisCache")


def test_production_refuses_to_start_without_a_secret_key():
    result = _settings_with({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
