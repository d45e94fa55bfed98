"""The numpy core: size distributions, sharding, metrics and timelines.

Pure functions over arrays. Nothing here imports an I/O library or talks to S3.
"""

import os as _os


def _no_huge_pages() -> None:
    """Stop numpy asking for transparent huge pages on large arrays (unless the user set
    ``NUMPY_MADVISE_HUGEPAGE``). The model and the sharding make many short-lived arrays of tens
    of MB; on a kernel whose THP defrag is ``madvise`` every first touch of such an array then
    waits for the kernel to compact and zero 2 MiB pages, which made the model 3x slower on a
    busy 2-core VM. Results are the same either way: only how memory is faulted in changes."""
    if "NUMPY_MADVISE_HUGEPAGE" in _os.environ:
        return
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # numpy 1.x keeps it under numpy.core
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            return
    _set_madvise_hugepage(False)


_no_huge_pages()
