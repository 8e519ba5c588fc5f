FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends gettext && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=1 python manage.py compilemessages --ignore '.venv/*' \
    && SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --create-home posvenda && mkdir -p /app/var /var/lib/posvenda/media && chown -R posvenda /app/var /var/lib/posvenda
USER posvenda
EXPOSE 8000
CMD ["gunicorn", "posvenda.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
