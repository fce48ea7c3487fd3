#!/bin/sh
# Runs tfplugindocs offline. tfplugindocs asks terraform for the provider's
# schema and, when it finds no terraform on PATH, downloads one: this
# wrapper puts the local terraform first on PATH ($TF_ACC_TERRAFORM_PATH,
# as scripts/testenv.sh exports it, else /usr/local/bin) and stops when
# there is none, so nothing is ever downloaded.
set -eu
if [ -n "${TF_ACC_TERRAFORM_PATH:-}" ]; then
	PATH="$(dirname "$TF_ACC_TERRAFORM_PATH"):$PATH"
fi
PATH="/usr/local/bin:$PATH"
export PATH
if ! command -v terraform >/dev/null 2>&1; then
	echo "tfplugindocs: no terraform on PATH or in TF_ACC_TERRAFORM_PATH; it must not download one (install /usr/local/bin/terraform, or run scripts/testenv.sh, which builds one)" >&2
	exit 1
fi
export CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null
status=0
# validate logs every file it looks at as [DEBUG]; keep the rest.
out="$(go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs "$@" 2>&1)" || status=$?
printf '%s\n' "$out" | grep -v '\[DEBUG\]' || true
exit "$status"
