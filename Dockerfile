# syntax=docker/dockerfile:1
# workspace-exporter container image.
#
#   docker build -t workspace-exporter .
#   docker run --rm -p 10187:10187 --read-only \
#     -e HUAWEICLOUD_SDK_AK -e HUAWEICLOUD_SDK_SK \
#     -v "$PWD/config.yaml:/etc/workspace-exporter/config.yaml:ro" workspace-exporter
#
# BASE_IMAGE must provide `python3` (3.11 or newer) with the venv module: the official
# python:3.11-slim (python in /usr/local/bin) or Debian's python3 + python3-venv (/usr/bin),
# as scripts/build-image.sh builds without a registry. Both stages use the same base, so the
# venv's interpreter link resolves in the runtime stage.
# An optional build secret `pip-ca` (a PEM bundle) is handed to pip for TLS-intercepting
# proxies; it is mounted for single RUN steps only and never stored in a layer.
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/workspace-exporter
WORKDIR /src

RUN python3 -m venv "${VIRTUAL_ENV}"

# Dependencies first, from pyproject.toml alone, so source edits reuse this layer.
COPY pyproject.toml ./
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && "${VIRTUAL_ENV}/bin/pip" install --requirement /tmp/requirements.txt

# Then the package itself. README.md (the package's long description) is copied when present;
# naming pyproject.toml again keeps the COPY valid when the glob matches nothing.
COPY pyproject.toml README.m[d] ./
COPY exporter/ exporter/
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && "${VIRTUAL_ENV}/bin/pip" install --no-deps . \
    && "${VIRTUAL_ENV}/bin/pip" check \
    && "${VIRTUAL_ENV}/bin/pip" uninstall --yes pip setuptools \
    && "${VIRTUAL_ENV}/bin/workspace-exporter" --version

# ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

# Byte code is compiled at build time; at run time nothing is written (read-only root works).
ENV PATH=/opt/workspace-exporter/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1

COPY --from=builder /opt/workspace-exporter /opt/workspace-exporter

# A numeric UID:GID, so the kubelet can verify runAsNonRoot. No passwd entry is needed.
USER 65532:65532
EXPOSE 10187
ENTRYPOINT ["workspace-exporter"]
CMD ["--config.file=/etc/workspace-exporter/config.yaml"]

# Labels last: CREATED changes every build and must not invalidate the layers above.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="workspace-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Huawei Cloud Workspace (cloud desktops)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"
