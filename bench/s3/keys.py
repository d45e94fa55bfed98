"""Which local file each S3 key of a dataset becomes in File mode, and which keys cannot
become one safely.

A key's *relative path* is what follows the dataset's prefix; File mode writes it under
``<volume>/data/<channel>/``. Empty and ``.`` components are dropped (``./a.bin`` and
``a//b`` become ``a.bin`` and ``a/b``), as a file system would resolve them.

Not files, skipped in every mode and counted:
- a folder marker: a zero-byte key ending in ``/`` (what the S3 console's "Create folder"
  writes), or the key equal to the prefix itself.

Unsafe, refused before anything is read (or left out with ``dataset.unsafe_keys = "skip"``):
- ``absolute``: the relative path starts with ``/`` (``prefix//tmp/x``);
- ``parent``: a ``..`` component (``prefix/../../x``), even one that would stay inside;
- ``nul``: a NUL byte, which no POSIX file name may hold;
- ``too-long``: a component over 255 bytes of UTF-8 (NAME_MAX of ext4, xfs, ...);
- ``not-a-file``: a key ending in ``/`` that holds bytes, or whose path is only ``.``;
- ``collision``: two keys that become one local path; the key already in canonical form
  (``a.bin`` against ``./a.bin``) keeps the path, the others are unsafe;
- ``file-and-folder``: a key whose path is also a folder of another key (``a`` and ``a/b``);
  the file is unsafe, the keys beneath it keep their paths.

Pure functions, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MAX_COMPONENT_BYTES = 255

PROBLEMS = {
    "absolute": "starts with '/' after the prefix, so it would be written outside the volume",
    "parent": "has a '..' component, so it would be written outside the channel folder",
    "nul": "holds a NUL byte, which no file name may hold",
    "too-long": f"has a path component over {MAX_COMPONENT_BYTES} bytes, too long for a file name",
    "not-a-file": "ends in '/' or '.' but holds bytes, so it cannot be a file",
    "collision": "becomes the same local file as another key",
    "file-and-folder": "is a file while another key needs it as a folder",
}


@dataclass(frozen=True)
class UnsafeKey:
    index: int  # position in the keys screened
    key: str
    problem: str  # a key of PROBLEMS
    other: str | None = None  # the key it collides with or is the folder of


@dataclass(frozen=True)
class KeyScreen:
    """The outcome of screening a dataset's keys."""

    files: np.ndarray  # indices of the keys that are files with safe local paths, in order
    folder_markers: np.ndarray  # indices of the keys that are not files
    unsafe: list[UnsafeKey] = field(default_factory=list)  # in key order

    def counts(self) -> dict[str, int]:
        """Unsafe keys per problem, in the order of PROBLEMS."""
        tally = Counter(u.problem for u in self.unsafe)
        return {problem: tally[problem] for problem in PROBLEMS if tally[problem]}


def _components(relative: str) -> list[str]:
    return [part for part in relative.split("/") if part not in ("", ".")]


def _key_problem(relative: str, size: int) -> str | None:
    """What is wrong with one relative path on its own; "marker" for a folder marker."""
    if "\0" in relative:
        return "nul"
    if relative.startswith("/"):
        return "absolute"
    parts = relative.split("/")
    if ".." in parts:
        return "parent"
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES for part in parts):
        return "too-long"
    if relative.endswith("/") or not _components(relative):
        return "marker" if size == 0 else "not-a-file"
    return None


def local_relative_path(prefix: str, key: str) -> str:
    """The path ``key`` takes under the channel folder; ValueError naming the problem when the
    key is not under ``prefix`` or is not a safe file on its own."""
    if not key.startswith(prefix):
        raise ValueError(f"is not under the prefix {prefix!r}")
    relative = key[len(prefix) :]
    problem = _key_problem(relative, 1) if relative else "not-a-file"
    if problem is not None:
        raise ValueError(PROBLEMS[problem])
    return "/".join(_components(relative))


def _is_canonical(relative: str) -> bool:
    """A safe relative path already in its local form: what nearly every key is, checked with
    substring tests alone."""
    return (
        bool(relative)
        and not relative.startswith(("/", "./", "../"))
        and not relative.endswith(("/", "/.", "/.."))
        and relative not in (".", "..")
        and "//" not in relative
        and "/./" not in relative
        and "/../" not in relative
        and "\0" not in relative
        and (
            len(relative) <= MAX_COMPONENT_BYTES // 4  # 4 bytes is the most a character takes
            or all(
                len(part.encode("utf-8", "surrogatepass")) <= MAX_COMPONENT_BYTES
                for part in relative.split("/")
            )
        )
    )


# Where one of these appears in the keys joined by NUL (each framed by NUL), some key is not in
# its canonical local form: an empty, "." or ".." component, a leading or trailing "/".
_NOT_CANONICAL = ("//", "/./", "/../", "\0/", "/\0", "\0./", "\0../", "/.\0", "/..\0")
_NOT_CANONICAL += ("\0.\0", "\0..\0", "\0\0")


def _screen_canonical(
    prefix: str, keys: Sequence[str], sizes: Sequence[int] | np.ndarray
) -> KeyScreen | None:
    """The screen of a dataset whose keys are all in canonical form or folder markers (every
    synthetic dataset, most real ones), in bulk string operations; None when some key needs
    the key-by-key rules."""
    if not all(key.startswith(prefix) for key in keys):
        return None
    relatives = [key[len(prefix) :] for key in keys]
    markers = [i for i, relative in enumerate(relatives) if not relative or relative[-1] == "/"]
    if any(relatives[i] and _key_problem(relatives[i], int(sizes[i])) != "marker" for i in markers):
        return None
    if markers:
        # A plain name in their place keeps the indices; at worst it sends the dataset to the
        # key-by-key rules (a key "m/..." makes it look like a file and a folder).
        marked = set(markers)
        relatives = [r if i not in marked else "m" for i, r in enumerate(relatives)]
    if "\0" in "".join(relatives):
        return None
    framed = "\0" + "\0".join(relatives) + "\0"
    if any(pattern in framed for pattern in _NOT_CANONICAL):
        return None
    # Keys are unique and canonical, so no two share a local path; a file can still be the
    # folder of another key, and a component can still be too long.
    folders = {r[: r.rfind("/")] for r in relatives if "/" in r}
    for folder in list(folders):
        cut = folder.rfind("/")
        while cut > 0 and folder[:cut] not in folders:
            folders.add(folder[:cut])
            cut = folder.rfind("/", 0, cut)
    if folders.intersection(relatives):
        return None
    unsafe: list[UnsafeKey] = []
    if max(map(len, relatives), default=0) > MAX_COMPONENT_BYTES // 4:
        unsafe = [
            UnsafeKey(i, keys[i], "too-long")
            for i, relative in enumerate(relatives)
            if any(
                len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES
                for part in relative.split("/")
            )
        ]
    kept = np.ones(len(keys), dtype=bool)
    kept[[u.index for u in unsafe]] = False
    kept[markers] = False
    return KeyScreen(
        files=np.flatnonzero(kept).astype(np.int64),
        folder_markers=np.asarray(markers, dtype=np.int64),
        unsafe=unsafe,
    )


def screen_keys(prefix: str, keys: Sequence[str], sizes: Sequence[int] | np.ndarray) -> KeyScreen:
    """Map every key to its local path and sort the keys into files, folder markers and
    unsafe keys (see the module docstring for the rules)."""
    quick = _screen_canonical(prefix, keys, sizes)
    return quick if quick is not None else screen_each_key(prefix, keys, sizes)


def screen_each_key(
    prefix: str, keys: Sequence[str], sizes: Sequence[int] | np.ndarray
) -> KeyScreen:
    """``screen_keys`` key by key: the rules as written, for any keys."""
    markers: list[int] = []
    unsafe: dict[int, UnsafeKey] = {}
    owner: dict[str, int] = {}  # local path -> the first key that maps to it
    shared: dict[str, list[int]] = {}  # local paths more than one key maps to
    deep: list[tuple[int, str]] = []  # keys inside folders
    for index, key in enumerate(keys):
        relative = key[len(prefix) :] if key.startswith(prefix) else key
        if not relative:
            markers.append(index)
            continue
        if _is_canonical(relative):
            path = relative
            if "/" in path:
                deep.append((index, path))
        else:
            problem = _key_problem(relative, int(sizes[index]))
            if problem == "marker":
                markers.append(index)
                continue
            if problem is not None:
                unsafe[index] = UnsafeKey(index, key, problem)
                continue
            path = "/".join(_components(relative))
            if "/" in path:
                deep.append((index, path))
        first = owner.setdefault(path, index)
        if first != index:
            shared.setdefault(path, [first]).append(index)

    for path, indices in shared.items():
        canonical = [i for i in indices if keys[i] == prefix + path]
        keeper = canonical[0] if canonical else None
        for i in indices:
            if i != keeper:
                other = keeper if keeper is not None else next(j for j in indices if j != i)
                unsafe[i] = UnsafeKey(i, keys[i], "collision", keys[other])

    # Every folder a kept key needs, with the first key that needs it.
    folder_of: dict[str, int] = {}
    for index, path in deep:
        if index in unsafe:
            continue
        cut = path.rfind("/")
        while cut > 0 and path[:cut] not in folder_of:  # a known folder's parents are known
            folder_of[path[:cut]] = index
            cut = path.rfind("/", 0, cut)
    for folder, child in folder_of.items():
        for i in shared.get(folder, [owner[folder]] if folder in owner else []):
            if i not in unsafe:
                unsafe[i] = UnsafeKey(i, keys[i], "file-and-folder", keys[child])

    kept = np.ones(len(keys), dtype=bool)
    kept[list(unsafe)] = False
    kept[markers] = False
    return KeyScreen(
        files=np.flatnonzero(kept).astype(np.int64),
        folder_markers=np.asarray(markers, dtype=np.int64),
        unsafe=[unsafe[i] for i in sorted(unsafe)],
    )


def show_key(key: str, limit: int = 120) -> str:
    """A key as one printable line: control characters escaped, very long keys shortened."""
    text = repr(key)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-4:]}"


def describe_unsafe(screen: KeyScreen, *, bucket: str, total: int) -> str:
    """One line: the first unsafe key, its problem, how many there are, and the remedy."""
    first = screen.unsafe[0]
    why = PROBLEMS[first.problem]
    if first.other is not None:
        why += f" ({show_key(first.other)})"
    breakdown = ", ".join(f"{n} {problem}" for problem, n in screen.counts().items())
    return (
        f"s3://{bucket}: key {show_key(first.key)} {why}; {len(screen.unsafe)} of {total} keys "
        f"cannot be stored as files safely ({breakdown}); nothing was read. Rename them in the "
        'bucket, or set dataset.unsafe_keys = "skip" to leave them out of every mode'
    )
