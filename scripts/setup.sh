#!/usr/bin/env bash
# Installs what LeadLedger needs to build and test on a Debian machine, when it is missing.
set -euo pipefail

need_apt=()
pkg-config --exists lmdb 2>/dev/null || need_apt+=(liblmdb-dev)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
# The replicated mode's tests start PostgreSQL 15 servers on loopback (and skip, loudly, without them).
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15)

if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} with apt-get" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
    echo "setup: installing Python's jsonschema with pip" >&2
    python3 -m pip install --quiet jsonschema
fi

if ! python3 -c 'import openapi_spec_validator' >/dev/null 2>&1; then
    echo "setup: installing Python's openapi-spec-validator with pip" >&2
    python3 -m pip install --quiet openapi-spec-validator
fi

if ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
    echo "setup: installing Python's schemathesis with pip (for scripts/fuzz-api.sh)" >&2
    python3 -m pip install --quiet schemathesis
fi
