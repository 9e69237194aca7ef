# One Dockerfile, one target per Fireline service (docker-compose.yml picks the target):
#
#   docker build --target identity         -t fireline-identity .
#   docker build --target auth             -t fireline-auth .
#   docker build --target incidents        -t fireline-incidents .
#   docker build --target pagerduty-ingest -t fireline-pagerduty-ingest .
#   docker build --target notifications    -t fireline-notifications .
#
# Each image holds one virtualenv with the pinned dependencies, the shared contracts and runtime
# packages, and that one service; it runs as an unprivileged user and starts with
# `python -m fireline_<service>`. Configuration comes from the environment (see
# docker-compose.yml); nothing secret is baked in.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: dependencies shared by every service -------------------------------------------------
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/fireline/bin:$PATH
RUN python -m venv /opt/fireline
WORKDIR /src
COPY requirements.txt ./
# requirements.txt holds only what services run on; the local tooling (embedded PostgreSQL and
# brokers, fireline_devtools) is in requirements-dev.txt and devtools/, never in an image.
RUN pip install -r requirements.txt
COPY contracts/ contracts/
COPY runtime/ runtime/
RUN pip install --no-deps ./contracts ./runtime

# -- build: one stage per service adds that service's package ------------------------------------
FROM deps AS build-identity
COPY services/identity/ services/identity/
RUN pip install --no-deps ./services/identity

FROM deps AS build-auth
COPY services/auth/ services/auth/
RUN pip install --no-deps ./services/auth

FROM deps AS build-incidents
COPY services/incidents/ services/incidents/
RUN pip install --no-deps ./services/incidents

FROM deps AS build-pagerduty-ingest
COPY services/pagerduty-ingest/ services/pagerduty-ingest/
RUN pip install --no-deps ./services/pagerduty-ingest

FROM deps AS build-notifications
COPY services/notifications/ services/notifications/
RUN pip install --no-deps ./services/notifications

# -- run: the common runtime image (no sources, no build tools, not root) -------------------------
FROM ${PYTHON_IMAGE} AS app
# A fixed uid lets volume permissions and Kubernetes' runAsNonRoot check be stated up front.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin fireline
# Inside a container a service must accept connections from other containers, not only from
# loopback (its default outside one); the port stays the service's default.
ENV PATH=/opt/fireline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FIRELINE_HTTP_HOST=0.0.0.0
USER 10001:10001

# -- targets -------------------------------------------------------------------------------------
FROM app AS identity
COPY --from=build-identity /opt/fireline /opt/fireline
EXPOSE 8001
CMD ["python", "-m", "fireline_identity"]

FROM app AS auth
COPY --from=build-auth /opt/fireline /opt/fireline
EXPOSE 8002
CMD ["python", "-m", "fireline_auth"]

FROM app AS incidents
COPY --from=build-incidents /opt/fireline /opt/fireline
EXPOSE 8003
CMD ["python", "-m", "fireline_incidents"]

FROM app AS pagerduty-ingest
COPY --from=build-pagerduty-ingest /opt/fireline /opt/fireline
EXPOSE 8004
CMD ["python", "-m", "fireline_pagerduty_ingest"]

FROM app AS notifications
COPY --from=build-notifications /opt/fireline /opt/fireline
EXPOSE 8005
CMD ["python", "-m", "fireline_notifications"]
