#!/usr/bin/env bash
# One rotation of the stack's EdDSA keys (README, "Rotating the token keys"): the published next
# key starts signing, a new next key is published, the key before the previous one is dropped.
# Then deploy with the printed JwtKeysVersion so every function reads the new keys at once.
# Usage: scripts/rotate-jwt-keys.sh [stack name, default tasks-api-dev]
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:-tasks-api-dev}
output() {
    aws cloudformation describe-stacks --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
private=$(output JwtSigningKeysArn)
public=$(output JwtPublicKeysArn)
[ -n "$private" ] && [ -n "$public" ] || { echo "no JwtSigningKeysArn/JwtPublicKeysArn output on $stack" >&2; exit 1; }
cargo xtask jwt-keys rotate "$private" "$public"
echo "now: sam deploy --stack-name $stack --parameter-overrides JwtKeysVersion=$(date -u +%Y%m%d%H%M%S)" >&2
