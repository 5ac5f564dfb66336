"""gnnrec: graph-neural-network cross-domain recommendation.

Data flows one way through small stages (imports go down this list only)::

    gnnrec.data   -> gnnrec.text, gnnrec.graph, the export format
                  -> gnnrec.models, gnnrec.eval -> gnnrec.train
                  -> export queries and serving -> gnnrec.bench -> gnnrec.cli

``python -m gnnrec`` (or the ``gnnrec`` command) ties them together.
"""

__version__ = "0.1.0"
