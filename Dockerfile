FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY controller ./controller
COPY migrations ./migrations
RUN pip install --no-cache-dir '.[postgres]' && useradd --system --home /data ziti && mkdir -p /data && chown ziti /data
USER ziti
ENV ZITI_SIM_DATA_DIR=/data ZITI_SIM_BIND=0.0.0.0:1280
EXPOSE 1280
# Readiness of this replica (the health-checks API needs no session); compose repeats it with its timings.
HEALTHCHECK --interval=10s --timeout=4s --start-period=30s CMD ["python", "-c", "import ssl, urllib.request as r; c = ssl.create_default_context(cafile='/data/pki/ca-bundle.pem'); c.check_hostname = False; r.urlopen('https://127.0.0.1:1280/health-checks/ready', context=c, timeout=3)"]
ENTRYPOINT ["ziti-controller-sim"]
CMD ["serve"]
