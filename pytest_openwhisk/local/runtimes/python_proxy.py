"""Entry point of the Python runtime: ``python -I -S python_proxy.py LISTEN_FD MEMORY_BYTES WORKDIR SITE_DIRS
CODE_MAX_BYTES`` runs ``python_runtime.main()``. The runtime is a module, not this script, because Python
compiles a script at every start (~3 ms for the runtime) but loads a module from its cached bytecode."""

import sys

if __name__ == "__main__":
    sys.path.insert(0, __file__.rpartition("/")[0])
    import python_runtime

    del sys.path[0]  # the action's sys.path and module names are its own
    del sys.modules["python_runtime"]
    python_runtime.main()
