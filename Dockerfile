# Perdure's image: `perdure serve` by default; `perdure migrate` as a separate command (the Helm
# chart runs it as a Job before pods of a new version start).
#   make image                      docker build -t perdure:dev .
#   docker run perdure:dev migrate  with PERDURE_DATABASE_URL set
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: a virtual environment with the server, the SDK (whose `perdure` command hands
# serve, migrate, … to the server) and their dependencies (all wheels).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/perdure
COPY pyproject.toml README.md requirements.lock ./
COPY app ./app
COPY migrations ./migrations
COPY clients/python ./clients/python
# The locked, hashed runtime dependencies (the server's and the SDK's) first; then the server
# and the SDK, whose `perdure` command hands serve, migrate, … to the server, without resolving.
RUN /opt/perdure/bin/pip install --no-compile --require-hashes -r requirements.lock \
    && /opt/perdure/bin/pip install --no-compile --no-deps . ./clients/python \
    && /opt/perdure/bin/python -m compileall -q /opt/perdure/lib

# Final stage: the virtual environment only, no build tools, an unprivileged user.
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="Perdure" \
      org.opencontainers.image.description="REST-first, multi-tenant durable-execution service" \
      org.opencontainers.image.source="https://github.com/perdure/perdure"
RUN groupadd --system --gid 10001 perdure \
    && useradd --system --uid 10001 --gid perdure --home-dir /nonexistent --shell /usr/sbin/nologin perdure
COPY --from=build /opt/perdure /opt/perdure
ENV PATH=/opt/perdure/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PERDURE_HOST=0.0.0.0 \
    PERDURE_PORT=8233
USER 10001:10001
EXPOSE 8233
ENTRYPOINT ["perdure"]
CMD ["serve"]
