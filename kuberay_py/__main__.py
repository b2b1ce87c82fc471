"""`python -m kuberay_py`: the command line (see cli.py)."""

from kuberay_py.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
