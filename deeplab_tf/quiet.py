"""Quiet tools: the command-line entry points print their own lines and progress bars, not
TensorFlow's C++ log lines (I0000 ..., oneDNN custom operations ..., cpu_feature_guard ...,
the TFLite converter's MLIR lines) nor Python warnings a user cannot act on.

quiet() must run before TensorFlow is imported (the C++ log level is read once, at import).
A TF_CPP_MIN_LOG_LEVEL already set, or --verbosity on the command line (absl's flag: 0 shows
INFO, 1 and above DEBUG), keeps TensorFlow's logging as it is.
"""
import os
import sys
import warnings


def wants_logs(argv):
    return any(a == "--verbosity" or a.startswith(("--verbosity=", "-v=")) for a in argv)


def quiet(argv=None):
    """Silences TensorFlow's C++ logging and library warnings for an entry point."""
    argv = sys.argv if argv is None else argv
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or wants_logs(argv):
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"   # hide INFO and WARNING lines, keep errors
    # absl's "WARNING: All log messages before absl::InitializeLog() is called ..." preamble.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    for category in (DeprecationWarning, FutureWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    return True
