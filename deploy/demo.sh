#!/usr/bin/env bash
# The main job on the single-host stack: start everything, upload sample
# photos over gRPC, and print what happened to each. The stack stays up
# afterwards; `./deploy/task down` stops it.
#
# Sample photos come from ../shared/corpus/photos when that folder exists,
# otherwise from the test images in Debian's python3-skimage package.

COMPONENT=demo
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SHOEBOX_ROOT"

"$SHOEBOX_ROOT/deploy/stack.sh" up

samples=()
corpus=$(cd "${SHOEBOX_CORPUS_DIR:-$SHOEBOX_ROOT/../shared/corpus}" 2>/dev/null && pwd || true)/photos
if [ -d "$corpus" ]; then
  for name in nokia-n9-waterside.jpg orientation-6-olympus.jpg sony-nex3n-cups-gps-progressive.jpg \
    honeywave-5k.jpg patak-5k.png cmyk-rocket.jpg astronaut.png chelsea.heic; do
    [ -f "$corpus/$name" ] && samples+=("$corpus/$name")
  done
else
  apt_install python3-skimage
  skimage_data=$(python3 -c 'import skimage, os; print(os.path.join(os.path.dirname(skimage.__file__), "data"))')
  for name in astronaut.png coffee.png chelsea.png rocket.jpg; do
    [ -f "$skimage_data/$name" ] && samples+=("$skimage_data/$name")
  done
fi
[ ${#samples[@]} -gt 0 ] || die "no sample photos found in $corpus or in python3-skimage"

# Every request needs a tenant's bearer token; the demo makes one for tenant "demo".
SHOEBOX_TOKEN=$(node "$SHOEBOX_ROOT/bin/shoebox.js" token create demo)
export SHOEBOX_TOKEN
printf '%s\n' "$SHOEBOX_TOKEN" >"$SHOEBOX_STATE_DIR/demo-token"
chmod 600 "$SHOEBOX_STATE_DIR/demo-token"

log "uploading ${#samples[@]} sample photos over gRPC"
results=$SHOEBOX_STATE_DIR/demo-results.jsonl
set +e
node "$SHOEBOX_ROOT/bin/shoebox.js" upload "${samples[@]}" | tee "$results"
upload_status=${PIPESTATUS[0]}
set -e

echo
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  const pad = (s, n) => String(s).padEnd(n);
  console.log(pad("file", 38) + pad("status", 13) + pad("media id", 38) + "variants / reason");
  for (const r of lines) {
    const name = r.file.split("/").pop();
    console.log(pad(name, 38) + pad(r.status, 13) + pad(r.mediaId, 38) + (r.status === "ready" ? r.variants.join(" ") : r.reason));
  }
' "$results"
echo
log "the demo tenant's token is in $SHOEBOX_STATE_DIR/demo-token: export SHOEBOX_TOKEN=\$(cat $SHOEBOX_STATE_DIR/demo-token)"
log "then: ./bin/shoebox.js status MEDIA_ID    ./bin/shoebox.js get MEDIA_ID thumb-256.webp -o out.webp"
log "stack left running; stop it with ./deploy/task down"
# A HEIC sample is expected to be rejected as unsupported, so only a failure
# of the upload command itself (exit status 2 or more) fails the demo.
[ "$upload_status" -lt 2 ]
