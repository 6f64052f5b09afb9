#!/usr/bin/env bash
# Re-creates functions/health/assets/ from the pinned npm packages: the Swagger UI and ReDoc files
# the health function embeds (gzip -9, so the binary and the zip carry them once, compressed), with
# each package's licence files and where it came from. The result is committed, so a fresh clone
# and `sam build` need neither npm nor the network; run this only to change a version (then change
# the version in functions/health/src/assets.rs too: the asset paths carry it, so a mismatch does
# not compile).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

SWAGGER_UI_VERSION=5.35.0
# ReDoc 2.x: the 3.x standalone bundle is twice the size and reports usage to its vendor by default.
REDOC_VERSION=2.5.4

command -v npm >/dev/null || die "npm is needed to fetch the packages (apt-get install npm)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
assets="$ROOT/functions/health/assets"

# vendor PACKAGE VERSION SED FILE... : the files (edited by the sed script SED, if not empty)
# gzipped, the licences as they are, and the tarball's integrity as the registry states it (npm
# pack verifies the download against it).
vendor() {
    local package=$1 version=$2 edit=$3; shift 3
    local dest="$assets/$package-$version"
    say "vendoring $package@$version"
    (cd "$work" && npm pack --silent "$package@$version" >/dev/null)
    mkdir -p "$work/$package" && tar xzf "$work/$package-$version.tgz" -C "$work/$package"
    rm -rf "$assets/$package"-*/ && mkdir -p "$dest"
    local file
    for file in "$@"; do
        sed -e "${edit:-}" "$work/$package/package/$file" | gzip -9 -n > "$dest/$(basename "$file").gz"
    done
    for file in LICENSE NOTICE "${@/%/.LICENSE.txt}"; do
        [ -f "$work/$package/package/$file" ] && cp "$work/$package/package/$file" "$dest/"
    done
    {
        echo "npm package: $package@$version"
        echo "integrity: $(npm view "$package@$version" dist.integrity)"
        echo "files (gzip -9 -n): $*"
        [ -z "$edit" ] || echo "edited with sed: $edit"
    } > "$dest/SOURCE"
}

vendor swagger-ui-dist "$SWAGGER_UI_VERSION" "" swagger-ui-bundle.js swagger-ui.css
# ReDoc's side menu shows its vendor's logo from their CDN, unconditionally (no option turns it off).
# An empty data: image fails to decode, and ReDoc's own onError handler then drops the <img>, so the
# page makes no request to another origin.
vendor redoc "$REDOC_VERSION" 's#"https://cdn.redoc.ly/redoc/logo-mini.svg"#"data:,"#' bundles/redoc.standalone.js
if zcat "$assets"/*/*.gz | grep -q 'cdn\.redoc\.ly/redoc/logo-mini'; then
    die "the ReDoc logo edit no longer applies: check the bundle for requests to other origins"
fi
du -b "$assets"/*/*.gz
