#!/usr/bin/env bash
# Everything up to `sam deploy` that can run without an AWS account: build every function for
# Lambda (arm64 by default, `ARCH=x86_64` for Intel), lint the SAM template, run it through the SAM
# transform (what CloudFormation runs), walk `sam deploy --guided` with the answers
# docs/deployment.md gives until it needs AWS credentials, `sam build`, then print the size of
# each deployment zip. Installs aws-sam-cli and cargo-lambda (with zig for cross builds) into .venv.
#   scripts/deploy-check.sh --build-only   only the release build
#   scripts/deploy-check.sh --no-build     only the template checks and the guided answers (seconds)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

mode=${1:-all}
case $mode in all | --build-only | --no-build) ;; *) die "usage: scripts/deploy-check.sh [--build-only | --no-build]" ;; esac

ensure_venv
ensure_deploy_tools
export SAM_CLI_TELEMETRY=0
# Release builds for Lambda get a target directory of their own, so they never wait on (or
# invalidate) the debug builds of `scripts/dev.sh` and the tests, which can run meanwhile. SAM finds
# it through `cargo metadata`. What is deployed is built by plain rustc: no lint wrapper.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/lambda-release"
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

if [ "$mode" != --no-build ]; then
    ensure_c_toolchain
    ensure_zig
    # The four functions in one cargo invocation first, with exactly the command SAM's builder runs
    # for each (`cargo lambda build --release [--arm64] --bin NAME`, all bins of one workspace
    # resolve the same features): their fat-LTO links (one core each, minutes apiece) then run side
    # by side instead of one after another, and `sam build` below finds every binary fresh and only
    # packages it.
    arch_flag=()
    [ "${ARCH:-arm64}" = arm64 ] && arch_flag=(--arm64)
    say "cargo lambda build --release ${arch_flag[*]} (every function at once, into $CARGO_TARGET_DIR)"
    cargo lambda build --release "${arch_flag[@]}" --bin migrations --bin health --bin auth --bin tasks
    [ "$mode" = --build-only ] && exit 0
fi

say "sam validate --lint"
sam validate --lint

# cfn-lint does not run the SAM transform; plain `sam validate` does, offline (it refused the old
# event names with an underscore, "Logical ids must be alphanumeric", which `--lint` let through).
# In a scratch folder: samconfig.toml would turn --lint on.
say "sam validate (the SAM transform, as CloudFormation runs it)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp template.yaml "$scratch/"
(cd "$scratch" && AWS_EC2_METADATA_DISABLED=true sam validate --region us-east-1 2>&1 | grep -v "unpublished metrics") \
    || die "the SAM transform refused template.yaml"

say "sam deploy --guided with the answers of docs/deployment.md (offline: it stops where it needs AWS)"
"$VENV/bin/python" scripts/deploy/guided.py

[ "$mode" = --no-build ] && exit 0

say "sam build (${ARCH:-arm64})"
# --build-in-source: one shared target/ for all functions instead of a fresh copy (and build) per
# function; sequential (samconfig: parallel = false), since concurrent cargo-lambda builds in one
# target/ race ("File exists") on a fresh clone.
sam build --build-in-source --no-cached --parameter-overrides "Architecture=${ARCH:-arm64}"

say "deployment package sizes (each bootstrap deflated at level 9, as a zip)"
"$VENV/bin/python" - .aws-sam/build <<'PY'
import io, pathlib, sys, zipfile
for bootstrap in sorted(pathlib.Path(sys.argv[1]).glob("*/bootstrap")):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(bootstrap, "bootstrap")
    print(f"{bootstrap.parent.name:<22} {len(buffer.getvalue()):>9} bytes zipped ({bootstrap.stat().st_size} unzipped)")
PY
