"""Object-size distributions for synthetic datasets.

A size spec is the ``[sizes]`` table of a scenario: ``distribution`` names the family and the
other keys are its parameters, in bytes where they are sizes (the scenario loader turns "64KiB"
into an int before it gets here)::

    {"distribution": "lognormal", "median": 1048576, "sigma": 1.0}
    {"distribution": "mixture", "components": [
        {"weight": 0.9, "distribution": "fixed", "size": 65536},
        {"weight": 0.1, "distribution": "pareto", "alpha": 1.2, "min": 104857600},
    ]}

Every sample is a whole number of bytes between 1 and 48.8 TiB (the largest object S3 stores), so
heavy tails cannot overflow int64 and an empty object never appears by accident.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MAX_OBJECT_SIZE = 10_000 * 5 * 1024**3
"""The largest object S3 accepts: 10,000 parts of 5 GiB, 48.8 TiB ("50 TB"; 5 TiB until December
2025; https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). Samples above it are
capped there."""

# Upper bounds of the shape parameters: far beyond any measured dataset, low enough that every
# sum and power of them stays finite.
MAX_SIGMA = 10.0
MAX_ALPHA = 100.0
MAX_WEIGHT = 1e9

SIZE_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "fixed": ("size",),
    "uniform": ("min", "max"),
    "lognormal": ("median", "sigma"),
    "pareto": ("alpha", "min"),
    "log2-uniform": ("min", "max"),
    "mixture": ("components",),
}
"""Each distribution's required parameters."""

OPTIONAL_PARAMETERS: dict[str, tuple[str, ...]] = {"pareto": ("max",)}
"""Parameters a distribution accepts but does not need: a Pareto tail may be capped."""

_SIZE_PARAMETERS = frozenset({"size", "min", "max", "median"})

# Samples drawn per step: bounds the float scratch memory of continuous families to 2 MB.
_CHUNK = 1 << 18


def check_size_spec(spec: Mapping[str, Any], *, name: str = "sizes") -> None:
    """Raise ValueError with a one-line message if ``spec`` cannot be sampled.

    The message names the key (``name`` is the prefix, e.g. ``sizes`` or
    ``sizes.components[1]``), the value found and what is allowed, so a scenario author can fix
    the file without reading this code.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"{name} = {_shown(spec)}: must be a table with a 'distribution' key and its parameters"
        )
    known = ", ".join(SIZE_DISTRIBUTIONS)
    if "distribution" not in spec:
        raise ValueError(f"{name}.distribution is missing: use one of {known}")
    distribution = spec["distribution"]
    if not isinstance(distribution, str) or distribution not in SIZE_DISTRIBUTIONS:
        raise ValueError(
            f"{name}.distribution = {_shown(distribution)}: unknown; use one of {known}"
        )
    required = SIZE_DISTRIBUTIONS[distribution]
    allowed = ("distribution", *required, *OPTIONAL_PARAMETERS.get(distribution, ()))
    for key in spec:
        if key not in allowed:
            raise ValueError(
                f"{name}.{key} is not a parameter of {distribution}; allowed: {', '.join(allowed)}"
            )
    for key in required:
        if key not in spec:
            raise ValueError(f"{name}.{key} is missing: {distribution} needs {', '.join(required)}")

    if distribution == "mixture":
        _check_components(spec["components"], name)
        return
    for key, value in spec.items():
        if key in _SIZE_PARAMETERS:
            _check_bytes(value, f"{name}.{key}")
    if distribution == "lognormal":
        _check_number(spec["sigma"], f"{name}.sigma", minimum=0.0, strict=False, maximum=MAX_SIGMA)
    elif distribution == "pareto":
        _check_number(spec["alpha"], f"{name}.alpha", minimum=0.0, strict=True, maximum=MAX_ALPHA)
    if "min" in spec and "max" in spec and spec["max"] < spec["min"]:
        raise ValueError(f"{name}.max = {spec['max']!r}: must be >= {name}.min = {spec['min']!r}")


def sample_sizes(spec: Mapping[str, Any], count: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``count`` object sizes in bytes (int64, each >= 1) from a size spec.

    The same spec, count and generator state give the same sizes. Continuous families are drawn
    from standard variates transformed by the parameters, so two specs sampled from generators
    with the same seed share their random numbers: a sweep over sigma changes the skew, not the
    luck of the draw.
    """
    check_size_spec(spec)
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        raise ValueError(f"count = {count!r}: must be an int >= 0")
    return _sample(spec, int(count), rng)


def _sample(spec: Mapping[str, Any], count: int, rng: np.random.Generator) -> np.ndarray:
    distribution = spec["distribution"]
    if distribution == "fixed":
        return np.full(count, _bytes(spec["size"]), dtype=np.int64)
    if distribution == "uniform":
        return rng.integers(
            _bytes(spec["min"]), _bytes(spec["max"]), size=count, endpoint=True, dtype=np.int64
        )
    if distribution == "mixture":
        return _sample_mixture(spec["components"], count, rng)
    # Drawn in chunks into the int64 result so that 10M sizes need no 80 MB float temporary;
    # chunking does not change the numbers a generator produces.
    sizes = np.empty(count, dtype=np.int64)
    for start in range(0, count, _CHUNK):
        stop = min(start + _CHUNK, count)
        # Extreme parameters overflow to inf, which the cap at 5 TiB absorbs. Assigning the
        # floats truncates them, and they carry +0.5, so the sizes are rounded.
        with np.errstate(over="ignore"):
            sizes[start:stop] = _continuous(spec, stop - start, rng)
    return sizes


def _continuous(spec: Mapping[str, Any], count: int, rng: np.random.Generator) -> np.ndarray:
    distribution = spec["distribution"]
    if distribution == "lognormal":
        # exp(mu + sigma * z) by hand: the normal draws do not depend on sigma.
        values = rng.standard_normal(count)
        values *= float(spec["sigma"])
        values += math.log(float(spec["median"]))
        np.exp(values, out=values)
    elif distribution == "pareto":
        # Inverse CDF of a Pareto with scale `min`: min * U**(-1/alpha), U in (0, 1].
        values = rng.random(count)
        np.subtract(1.0, values, out=values)
        np.power(values, -1.0 / float(spec["alpha"]), out=values)
        values *= float(spec["min"])
        if "max" in spec:
            # A cap, not a truncation: writers that roll files at a maximum size produce
            # exactly this spike at the cap.
            np.minimum(values, float(spec["max"]), out=values)
    else:
        # Uniform in log2 over [min, max + 1), floored: each doubling of size holds the same
        # share of objects, the way object-store benchmarks draw "random sizes".
        low = math.log2(_bytes(spec["min"]))
        high = math.log2(_bytes(spec["max"]) + 1)
        values = rng.random(count)
        values *= high - low
        values += low
        np.exp2(values, out=values)
        np.floor(values, out=values)
        np.minimum(values, float(_bytes(spec["max"])), out=values)
    return _clipped_for_rounding(values)


def _sample_mixture(
    components: Sequence[Mapping[str, Any]], count: int, rng: np.random.Generator
) -> np.ndarray:
    weights = np.array([float(component["weight"]) for component in components])
    choice = rng.choice(len(components), size=count, p=weights / weights.sum())
    sizes = np.empty(count, dtype=np.int64)
    for index, component in enumerate(components):
        mask = choice == index
        nested = {key: value for key, value in component.items() if key != "weight"}
        sizes[mask] = _sample(nested, int(np.count_nonzero(mask)), rng)
    return sizes


def _clipped_for_rounding(values: np.ndarray) -> np.ndarray:
    """Clip to [1 byte, 5 TiB] and add 0.5, so that the cast to int64 on assignment rounds."""
    np.clip(values, 1.0, float(MAX_OBJECT_SIZE), out=values)
    values += 0.5
    return values


def _bytes(value: Any) -> int:
    return int(round(float(value)))


def _check_components(components: Any, name: str) -> None:
    if (
        isinstance(components, str | bytes | Mapping)
        or not isinstance(components, Sequence)
        or len(components) == 0
    ):
        raise ValueError(
            f"{name}.components = {_shown(components)}: must be a non-empty list of tables, "
            "each with a weight and a distribution"
        )
    for index, component in enumerate(components):
        component_name = f"{name}.components[{index}]"
        if not isinstance(component, Mapping):
            raise ValueError(
                f"{component_name} = {_shown(component)}: must be a table with a weight and a "
                "distribution"
            )
        if "weight" not in component:
            raise ValueError(f"{component_name}.weight is missing: give each component a weight")
        _check_number(
            component["weight"],
            f"{component_name}.weight",
            minimum=0.0,
            strict=True,
            maximum=MAX_WEIGHT,
        )
        check_size_spec(
            {key: value for key, value in component.items() if key != "weight"},
            name=component_name,
        )


def _check_number(
    value: Any, name: str, *, minimum: float, strict: bool, maximum: float = math.inf
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} = {_shown(value)}: must be a number")
    # An int too large for a float is out of range, not an OverflowError.
    if isinstance(value, int) and abs(value) > 2**1000:
        raise ValueError(f"{name} = {_shown(value)}: must be <= {maximum:g}")
    if not math.isfinite(value):
        raise ValueError(f"{name} = {_shown(value)}: must be finite")
    if strict and value <= minimum:
        raise ValueError(f"{name} = {_shown(value)}: must be > {minimum:g}")
    if not strict and value < minimum:
        raise ValueError(f"{name} = {_shown(value)}: must be >= {minimum:g}")
    if value > maximum:
        raise ValueError(f"{name} = {_shown(value)}: must be <= {maximum:g}")


def _shown(value: Any) -> str:
    from bench.units import shown

    return shown(value)


def _check_bytes(value: Any, name: str) -> None:
    if isinstance(value, str):
        raise ValueError(
            f"{name} = {_shown(value)}: must be a number of bytes; convert text such as '64KiB' "
            "with bench.units.parse_size first"
        )
    _check_number(value, name, minimum=1.0, strict=False)
    if value > MAX_OBJECT_SIZE:
        raise ValueError(
            f"{name} = {_shown(value)}: must be <= {MAX_OBJECT_SIZE} "
            "(48.8 TiB, the largest S3 object)"
        )
