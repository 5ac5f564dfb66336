#!/usr/bin/env bash
# Separate virtualenv for the peers (RecBole 1.2.1 + RecBole-CDR from source) -- never gnnrec's venv.
#
#   bash experiments/peers/setup.sh [RECBOLE_CDR_GIT_DIR]
#
# RECBOLE_CDR_GIT_DIR: a clone (bare or not) of https://github.com/RUCAIBox/RecBole-CDR; default
# /work/.mirror/RUCAIBox+RecBole-CDR/repo. The PyPI wheel recbole-cdr==0.1.0 is unusable: it ships
# recbole_cdr/model/__init__.py but not recbole_cdr/model/cross_domain_recommender/ (no model at all),
# so the source at RECBOLE_CDR_COMMIT is unpacked into experiments/peers/.recbole-cdr-src (git-ignored)
# and put on PYTHONPATH by run_recbole_cdr.py. Nothing fetched is committed.
#
# Every version is pinned. Packages are installed with --no-deps: RecBole 1.2.1's own metadata pulls
# ray, plotly, thop, tabulate ... that the runs never import, and an unpinned torch (a CUDA build).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-$HERE/.venv-recbole}"
CDR_VENV="${CDR_VENV:-$HERE/.venv-recbole-cdr}"
PY="${PYTHON:-python3.11}"
RECBOLE_CDR_GIT_DIR="${1:-/work/.mirror/RUCAIBox+RecBole-CDR/repo}"
RECBOLE_CDR_COMMIT=d339918ee5f2fb2d3ef38e874f2e04c01bc19e9d   # master, 2023-12-08

make_venv() {   # make_venv DIR RECBOLE_VERSION
    local VENV="$1" RB="$2"
    "$PY" -m venv "$VENV"
    # torch: the local CPU wheel (2.13.0+cpu) with its own small pure-python deps.
    "$VENV/bin/pip" install -q torch==2.13.0 filelock==4.3.2 fsspec==2026.9.0 Jinja2==3.1.6 MarkupSafe==3.0.4 \
        mpmath==1.3.0 networkx==3.6.1 sympy==1.14.0 typing_extensions==4.16.0 setuptools==84.2.1
    # numpy < 1.24: RecBole 1.2.1 still uses np.float (interaction.py, metrics.py: NDCG/MRR), removed in
    # numpy 1.24. scipy < 1.12 (scipy.sparse API RecBole uses); pandas 1.5.3 is the last 1.x (built for
    # numpy 1.23 on Python 3.11).
    "$VENV/bin/pip" install -q --no-deps \
        numpy==1.23.5 scipy==1.11.4 pandas==1.5.3 python-dateutil==4.0.0 pytz==2026.6 six==1.17.0 \
        recbole=="$RB" \
        tqdm==4.70.1 colorlog==4.7.2 colorama==0.4.4 PyYAML==6.0.4 texttable==1.7.2 \
        scikit-learn==1.3.2 joblib==1.3.2 threadpoolctl==3.8.0 \
        tensorboard==2.21.0 protobuf==7.36.2 absl-py==2.5.1 packaging==26.4
}
make_venv "$VENV" 1.2.1
# RecBole-CDR pins recbole==1.0.1 (its requirements.txt) and does not run on 1.2.1 (README:
# CDRConfig calls Config._set_eval_neg_sample_args() without the `phase` argument 1.2 added), so
# it gets its own venv with the same pins but RecBole 1.0.1.
make_venv "$CDR_VENV" 1.0.1

# What RecBole 1.2.1 imports, and why each is here (checked by grepping its sources):
#   torch, numpy, scipy, pandas   everywhere
#   pyyaml                        config/configurator.py, data/dataset/dataset.py
#   colorlog, colorama            utils/logger.py
#   texttable                     utils/utils.py (module level)
#   tensorboard (+protobuf, absl) utils/utils.py: `from torch.utils.tensorboard import SummaryWriter`
#                                 at module level; the trainer writes events to log_tensorboard/
#   scikit-learn (+joblib<1.4 which still vendors cloudpickle, threadpoolctl)
#                                 evaluator/metrics.py (module level: sklearn.metrics.auc)
#   tqdm                          trainer/trainer.py
# Not installed (never imported on our path): ray (only recbole.quick_start, which we bypass),
# thop (get_flops, quick_start only), psutil (get_environment, quick_start only), plotly, hyperopt.

# RecBole-CDR from its GitHub source (its requirements.txt pins recbole==1.0.1; it runs on 1.2.1
# here, see README for the compatibility notes).
SRC="$HERE/.recbole-cdr-src"
rm -rf "$SRC" && mkdir -p "$SRC"
GIT=(git --git-dir="$RECBOLE_CDR_GIT_DIR")
[ -d "$RECBOLE_CDR_GIT_DIR/.git" ] && GIT=(git --git-dir="$RECBOLE_CDR_GIT_DIR/.git")
# dataset_example/ is LFS-sized and not needed (we bring our own data)
"${GIT[@]}" archive "$RECBOLE_CDR_COMMIT" recbole_cdr/__init__.py recbole_cdr/config/ recbole_cdr/data/ \
    recbole_cdr/model/ recbole_cdr/properties/ recbole_cdr/quick_start/ recbole_cdr/sampler/ \
    recbole_cdr/trainer/ recbole_cdr/utils/ LICENSE | tar -x -C "$SRC"
echo "$RECBOLE_CDR_COMMIT" > "$SRC/COMMIT"

for v in "$VENV" "$CDR_VENV"; do
    want="$HERE/requirements-recbole.txt"
    if diff <("$v/bin/pip" freeze | sed 's/^recbole==1.0.1$/recbole==1.2.1/') "$want"; then
        echo "$v: installed versions match $want (recbole: $("$v/bin/pip" freeze | grep ^recbole==))"
    else
        echo "WARNING: $v: installed versions differ from $want (above)"
    fi
done
echo "RecBole-CDR source: $SRC (commit $RECBOLE_CDR_COMMIT)"
OMP_NUM_THREADS=1 "$VENV/bin/python" -c "import recbole, torch, numpy; print('$VENV: recbole', recbole.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__)"
OMP_NUM_THREADS=1 PYTHONPATH="$SRC" "$CDR_VENV/bin/python" -c \
    "import recbole, recbole_cdr.model.cross_domain_recommender.bitgcf, torch; print('$CDR_VENV: recbole', recbole.__version__, '+ recbole_cdr source, torch', torch.__version__)"
