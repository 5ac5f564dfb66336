"""Evaluation of any user/item embeddings or export folder (issue 3).

>>> from gnnrec.eval import evaluate, evaluate_export, EvalResult
>>> res = evaluate(user_emb, item_emb, ds, split="valid")          # doctest: +SKIP
>>> res.value("ndcg", 20, domain="action", scenario="cold")        # doctest: +SKIP

Protocols: full ranking over each domain's items (default) and the sampled
protocol of DisenCDR/CDRIB/UniCDR; metric definitions in
:mod:`gnnrec.eval.metrics`, tie rule in :mod:`gnnrec.eval.ranking`.
"""

from gnnrec.eval.evaluate import (EVALUATOR_VERSION, EvalError, align_export, evaluate,
                                  evaluate_export, evaluate_export_many, evaluate_many)
from gnnrec.eval.result import EvalResult, load_result

__all__ = ["evaluate", "evaluate_export", "evaluate_many", "evaluate_export_many", "EvalResult",
           "EvalError", "EVALUATOR_VERSION", "align_export", "load_result"]
