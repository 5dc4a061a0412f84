# The gateway image: `docker compose up` runs it against the mosquitto and postgres services.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
# every package pyproject installs (tests/test_compose.py keeps the two lists the same)
COPY messages ./messages
COPY xsd ./xsd
COPY storage ./storage
COPY business_time ./business_time
COPY ledger ./ledger
COPY client ./client
COPY gateway ./gateway
COPY sim ./sim
COPY pboc_sim ./pboc_sim
COPY bank_sim ./bank_sim
COPY treasury_sim ./treasury_sim
COPY runner ./runner
COPY bench ./bench
COPY tgw ./tgw
COPY scenarios ./scenarios
COPY examples ./examples
RUN pip install . && useradd --system --home /var/lib/tgw tgw && mkdir -p /var/lib/tgw && chown tgw /var/lib/tgw

USER tgw
WORKDIR /var/lib/tgw
EXPOSE 8470
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8470/healthz', timeout=2).status == 200 else 1)"
CMD ["tgw", "up", "--config", "/etc/tgw/config.yaml"]
