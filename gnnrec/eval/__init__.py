"""Evaluation of any user/item embeddings or export folder (issue 3).

>>> from gnnrec.eval import evaluate, evaluate_export, EvalResult
>>> res = evaluate(user_emb, item_emb, ds, split="valid")          # doctest: +SKIP
>>> res.value("ndcg", 20, domain="action", scenario="cold")        # doctest: +SKIP

Protocols: full ranking over each domain's items (default) and the sampled
protocol of DisenCDR/CDRIB/UniCDR; metric definitions in
:mod:`gnnrec.eval.metrics`, tie rule in :mod:`gnnrec.eval.ranking`.
"""

from gnnrec.utils.lazy import lazy

__getattr__, __dir__, __all__ = lazy(__name__, {
    "EVALUATOR_VERSION": "gnnrec.eval.core",
    "EvalError": "gnnrec.eval.core",
    "align_export": "gnnrec.eval.core",
    "evaluate": "gnnrec.eval.core",
    "evaluate_export": "gnnrec.eval.core",
    "evaluate_export_many": "gnnrec.eval.core",
    "evaluate_many": "gnnrec.eval.core",
    "EvalResult": "gnnrec.eval.result",
    "load_result": "gnnrec.eval.result",
})
