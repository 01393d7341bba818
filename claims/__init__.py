"""The site's claims: the catalog, the release grid, the proofs, and their Sphinx extension.

``claims.catalog`` and ``claims.grid`` read the hand-written specs; ``claims.proofs`` measures;
``claims.run`` runs every proof in one grid environment and ``claims.matrix`` runs the whole
grid and merges the runs into ``results.json``; ``claims.sphinxext`` renders claims and
ranges from those results (and ``claims.callchain`` the call-chain pages).
"""
