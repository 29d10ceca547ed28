FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY controller ./controller
COPY migrations ./migrations
RUN pip install --no-cache-dir '.[postgres]' && useradd --system --home /data ziti && mkdir -p /data && chown ziti /data
USER ziti
ENV ZITI_SIM_DATA_DIR=/data ZITI_SIM_BIND=0.0.0.0:1280
EXPOSE 1280
ENTRYPOINT ["ziti-controller-sim"]
CMD ["serve"]
