# One image for every process (web, worker, beat); docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/var/lib/helpdesk
WORKDIR /app

COPY pyproject.toml README.md ./
COPY helpdesk ./helpdesk
COPY conversations ./conversations
COPY channels_in ./channels_in
COPY kpi ./kpi
COPY widget ./widget
COPY webhooks ./webhooks
RUN pip install --no-cache-dir .

COPY . .
RUN pip install --no-cache-dir --no-deps . \
 && SECRET_KEY=build-only python manage.py collectstatic --noinput \
 && useradd --system --home /app helpdesk \
 && mkdir -p /var/lib/helpdesk && chown helpdesk /var/lib/helpdesk
USER helpdesk

EXPOSE 8000
CMD ["python", "-m", "uvicorn", "helpdesk.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
