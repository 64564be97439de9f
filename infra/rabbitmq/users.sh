#!/bin/sh
# The rabbitmq service's entrypoint (docker-compose.yml): starts the broker, then gives the two
# users of infra/rabbitmq/definitions.json their passwords from the environment. The
# definitions hold permissions only, so no password is ever written in the repository.
set -eu
: "${RABBITMQ_API_PASSWORD:?}" "${RABBITMQ_WORKER_PASSWORD:?}"
rm -f /tmp/minuta-users-ready
docker-entrypoint.sh rabbitmq-server &
server=$!
until rabbitmq-diagnostics -q check_running >/dev/null 2>&1; do
    kill -0 "$server" || exit 1
    sleep 2
done
# Read from standard input: a password never appears on a command line.
printf '%s' "$RABBITMQ_API_PASSWORD" | rabbitmqctl change_password minuta-api
printf '%s' "$RABBITMQ_WORKER_PASSWORD" | rabbitmqctl change_password minuta-worker
touch /tmp/minuta-users-ready  # the healthcheck waits for this
wait "$server"
