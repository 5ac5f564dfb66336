"""gnnrec: graph-neural-network cross-domain recommendation.

Data flows one way through small stages::

    gnnrec.data -> gnnrec.text -> gnnrec.graph -> gnnrec.models
                -> gnnrec.train -> gnnrec.eval -> gnnrec.export

``gnnrec.cli`` ties them together.
"""

__version__ = "0.1.0"
