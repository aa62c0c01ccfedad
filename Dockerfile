# One image for the four services; SERVICE picks which one runs (docker-compose.yml sets it).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-core fonts-noto-cjk libpango-1.0-0 \
      libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml constraints.txt ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir -c constraints.txt . \
    && pybabel --quiet compile -d services/welcome_pack/locales -D messages \
    && useradd --system --uid 10001 velkommen
USER velkommen
ENV SERVICE=registration PORT=8001
EXPOSE 8001 8002 8003 8004
HEALTHCHECK --interval=10s --timeout=3s --retries=6 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/readyz', timeout=2)"
# shared.serve: SIGTERM finishes the batch in hand, commits, closes clients and exits 0.
CMD ["sh", "-c", "exec python -m shared.serve ${SERVICE} --host 0.0.0.0 --port ${PORT}"]
