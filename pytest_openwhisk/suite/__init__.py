"""The main benchmark suite, shipped with the package: ``pytest --pyargs pytest_openwhisk.suite``.

``python -m pytest_openwhisk.suite [pytest options]`` does the same.

The modules here are the checkout's ``benchmarks/conftest.py``, ``test_functions.py``, ``test_chains.py``
and ``test_concurrency.py`` (linked in the checkout, copied into the wheel), and the function catalogue
they use travels as ``pytest_openwhisk/functions`` (``catalog.DEFAULT_ROOT`` of an installed copy). So a user
with only the wheel runs the seed's benchmarks against their own cluster, e.g.
``pytest --pyargs pytest_openwhisk.suite --ow-cluster=existing --ow-apihost=... --ow-auth=...``.
"""
