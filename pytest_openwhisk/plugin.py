"""pytest hooks of pytest-openwhisk (hooks only; the work lives in the modules they call)."""
