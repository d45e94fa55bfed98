"""Numbers in scenarios, profiles and manifests: finite, in a documented range, exact, and a
one-line error naming the field and its range when not, for every command, never a traceback."""

from __future__ import annotations

import json
import math
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bench.config.profile import _SCHEMA as PROFILE_SCHEMA
from bench.config.profile import ProfileError, build_profile
from bench.config.scenario import _SCHEMA, RANGES, build_scenario, load_scenario
from bench.core.sizes import MAX_OBJECT_SIZE
from bench.errors import ScenarioError
from bench.run import results as results_io
from bench.run.dataset import read_manifest
from bench.units import LARGEST_NUMBER, parse_rate, parse_size
from tests.support import stagebench, write_scenario

PATH = Path("ranges.toml")


def base() -> dict:
    # FullyReplicated: a huge host count is then no warning about hosts without objects.
    return {
        "dataset": {
            "objects": 4,
            "prefix": "ranges/",
            "sizes": {"distribution": "fixed", "size": "1KiB"},
        },
        "distribution": {"type": "FullyReplicated"},
    }


def load_with(field: str, value: object):
    section, _, key = field.partition(".")
    raw = base()
    raw.setdefault(section, {})[key] = value
    return build_scenario(raw, path=PATH)


def _kind(field: str) -> str:
    validator = _SCHEMA[field.split(".")[0]][field.split(".")[1]][0]
    name = getattr(validator, "__qualname__", "")
    if RANGES[field].unit == "bytes/s":
        return "rate"
    if RANGES[field].unit == "bytes":
        return "size"
    return "int" if "_int" in name or "optional_int" in name else "float"


def bad_values(field: str) -> list[object]:
    """Values outside ``field``'s range: past each end, non-finite, absurd, the wrong kind."""
    allowed = RANGES[field]
    kind = _kind(field)
    values: list[object] = [math.inf, -math.inf, math.nan, 10**400, -1]
    if kind == "int":
        values += [allowed.high + 1, allowed.low - 1, 2.5, float(allowed.low)]
    elif kind == "float":
        values += [allowed.high * 2, "lots", 1e300]
        if allowed.low == 0:
            values.append(-0.001)
    elif kind == "size":
        values += [allowed.high + 1, "1e400 B", "1.5 B", f"{allowed.high}KiB", "inf"]
        if allowed.low > 1:
            values.append(allowed.low - 1)
    else:
        values += ["1e400MB/s", allowed.high * 10, allowed.low / 2, "nan"]
    return values


FIELD_CASES = [(field, value) for field in RANGES for value in bad_values(field)]


@pytest.mark.parametrize(
    ("field", "value"), FIELD_CASES, ids=[f"{f}={str(v)[:12]}" for f, v in FIELD_CASES]
)
def test_every_field_refuses_values_out_of_its_range(field, value):
    with pytest.raises(ScenarioError) as caught:
        load_with(field, value)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400
    assert message.startswith(f"{PATH}: {field} = ")
    assert RANGES[field].text() in message


@pytest.mark.parametrize("field", list(RANGES))
def test_both_ends_of_every_range_load(field):
    allowed = RANGES[field]
    section, _, key = field.partition(".")
    for value in (allowed.low, allowed.high):
        scenario = load_with(field, value)
        assert scenario.raw[section][key] == value


SIZE_SPECS = [
    ({"distribution": "fixed", "size": "1e400 B"}, "dataset.sizes.size"),
    ({"distribution": "fixed", "size": math.inf}, "dataset.sizes.size"),
    ({"distribution": "fixed", "size": 1.5}, "dataset.sizes.size"),
    ({"distribution": "fixed", "size": MAX_OBJECT_SIZE + 1}, "dataset.sizes.size"),
    ({"distribution": "fixed", "size": 10**400}, "dataset.sizes.size"),
    ({"distribution": "lognormal", "median": "1MB", "sigma": math.nan}, "dataset.sizes.sigma"),
    ({"distribution": "lognormal", "median": "1MB", "sigma": 10**5000}, "dataset.sizes.sigma"),
    ({"distribution": "lognormal", "median": "1MB", "sigma": 11.0}, "dataset.sizes.sigma"),
    ({"distribution": "pareto", "min": "1MB", "alpha": 1e300}, "dataset.sizes.alpha"),
    ({"distribution": [1], "size": 1}, "dataset.sizes.distribution"),
    (
        {
            "distribution": "mixture",
            "components": [
                {"weight": 1e308, "distribution": "fixed", "size": 1},
                {"weight": 1e308, "distribution": "fixed", "size": 2},
            ],
        },
        "dataset.sizes.components[0].weight",
    ),
]


@pytest.mark.parametrize(("spec", "field"), SIZE_SPECS, ids=[s[1] for s in SIZE_SPECS])
def test_size_distribution_parameters_are_bounded(spec, field):
    with pytest.raises(ScenarioError) as caught:
        load_with("dataset.sizes", spec)
    assert str(caught.value).startswith(f"{PATH}: {field}")


def test_toml_numbers_that_python_cannot_hold_are_one_line(tmp_path):
    text = "[dataset]\nobjects = " + "9" * 5000 + '\nprefix = "p/"\n'
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(write_scenario(tmp_path, text))
    text = '[dataset]\nobjects = 4\n[dataset.sizes]\ndistribution = "fixed"\nsize = 1e400\n'
    with pytest.raises(ScenarioError, match="dataset.sizes.size = inf"):
        load_scenario(write_scenario(tmp_path, text))


# --- sizes and rates are read exactly ---------------------------------------------------------

_UNITS = {"": 1, "B": 1, "KB": 1000, "MiB": 1024**2, "GB": 1000**3, "TiB": 1024**4}


@settings(max_examples=300, deadline=None)
@given(
    mantissa=st.from_regex(r"[0-9]{1,25}(\.[0-9]{1,25})?", fullmatch=True),
    exponent=st.one_of(st.just(""), st.integers(-40, 40).map(lambda e: f"e{e}")),
    unit=st.sampled_from(sorted(_UNITS)),
)
def test_parse_size_is_exact_against_fractions(mantissa, exponent, unit):
    text = f"{mantissa}{exponent} {unit}"
    expected = Fraction(mantissa) * Fraction(10) ** int(exponent[1:] or 0) * _UNITS[unit]
    if expected.denominator != 1 or expected > LARGEST_NUMBER:
        with pytest.raises(ValueError):
            parse_size(text)
    else:
        assert parse_size(text) == expected
        assert parse_rate(text + "/s") == float(expected)


@pytest.mark.parametrize(
    "text", ["1e400 B", "1e99999999999", "inf", "nan", math.inf, math.nan, 1e300, 2**63, "0.5 B"]
)
def test_sizes_beyond_int64_or_not_whole_are_value_errors(text):
    with pytest.raises(ValueError):
        parse_size(text)


# --- anything in any field: it loads in range, or it is the one user-facing error ------------

hostile_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, -1, 2**63, 2**64, 10**400, 10**4000, 1e400, 1e308, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
)
size_texts = st.builds(
    "{}{}".format,
    st.one_of(
        st.integers(0, 10**25),
        st.sampled_from(["1e400", "1e-400", "0.5", ".5", "1e99999999", "64", "1.5"]),
    ),
    st.sampled_from(["", " B", "KiB", "MB", "TiB", "/s", "MB/s", "parsecs"]),
)
anything = st.one_of(
    hostile_numbers,
    size_texts,
    st.text(max_size=8),
    st.booleans(),
    st.lists(hostile_numbers, max_size=2),
    st.dictionaries(st.text(max_size=4), hostile_numbers, max_size=2),
)


def in_range(field: str) -> st.SearchStrategy:
    allowed = RANGES[field]
    if isinstance(allowed.low, int) and isinstance(allowed.high, int):
        return st.integers(int(allowed.low), int(allowed.high))
    return st.floats(allowed.low, allowed.high)


size_specs = st.one_of(
    anything,
    st.fixed_dictionaries(
        {"distribution": st.sampled_from(["fixed", "lognormal", "pareto", "uniform", "zipf"])},
        optional={
            "size": st.one_of(size_texts, hostile_numbers),
            "median": st.one_of(size_texts, hostile_numbers),
            "min": st.one_of(size_texts, hostile_numbers),
            "max": st.one_of(size_texts, hostile_numbers),
            "sigma": hostile_numbers,
            "alpha": hostile_numbers,
        },
    ),
)


ALL_FIELDS = [
    (section, key)
    for section, keys in _SCHEMA.items()
    for key in keys
    if (section, key) not in {("dataset", "manifest"), ("dataset", "uri")}  # one data source
]


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    """A scenario with a few fields given anything at all and the others in range or unset,
    so that both outcomes, loaded and refused, are common."""
    raw = base()
    hostile = draw(st.sets(st.sampled_from(ALL_FIELDS), max_size=3))
    for section, key in ALL_FIELDS:
        if (section, key) in hostile:
            value = draw(size_specs if key == "sizes" else anything)
        elif f"{section}.{key}" in RANGES and draw(st.booleans()):
            value = draw(in_range(f"{section}.{key}"))
        else:
            continue
        raw.setdefault(section, {})[key] = value
    return raw


@seed(14)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=scenarios(), sizes=st.lists(st.integers(0, MAX_OBJECT_SIZE), min_size=1, max_size=5))
def test_any_values_load_in_range_or_raise_the_one_error(raw, sizes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # more hosts than objects is a warning, not an error
        try:
            scenario = build_scenario(raw, path=PATH)
        except ScenarioError as error:
            assert "\n" not in str(error)
            return
    for field, allowed in RANGES.items():
        section, _, key = field.partition(".")
        value = scenario.raw.get(section, {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert allowed.allows(value), (field, value)
    try:
        scenario.check_live(np.array(sizes, dtype=np.int64), memory_bytes=16 * 1024**3)
    except ScenarioError as error:
        assert "\n" not in str(error)


# --- check_live: fields in range whose product a live run cannot hold ------------------------


def test_live_run_refuses_more_request_rows_than_it_keeps():
    scenario = load_with("training.epochs", 1000)
    scenario = build_scenario(
        {**scenario.raw, "cluster": {"hosts": 10_000}, "modes": {"run": ["pipe"]}}, path=PATH
    )
    with pytest.raises(ScenarioError, match="would log .* requests.*lower training.epochs"):
        scenario.check_live(np.full(4, 1024), memory_bytes=2**50)


def test_live_run_refuses_a_step_per_byte():
    scenario = load_with("training.step_bytes", 1)
    with pytest.raises(ScenarioError, match="training steps.*raise training.step_bytes"):
        scenario.check_live(np.full(100, 10**6), memory_bytes=2**50)


def test_live_run_refuses_buffers_beyond_the_machine():
    raw = base()
    raw.update(
        cluster={"hosts": 100},
        modes={"run": ["pipe"]},
        pipe={"prefetch": 1024, "chunk_size": "1GiB"},
    )
    scenario = build_scenario(raw, path=PATH)
    with pytest.raises(ScenarioError, match="of buffers .*lower pipe.prefetch or pipe.chunk_size"):
        scenario.check_live(np.full(4, 1024), memory_bytes=64 * 1024**3)
    build_scenario(base(), path=PATH).check_live(np.full(4, 1024), memory_bytes=64 * 1024**3)


# --- manifests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "fragment"),
    [
        ("9223372036854775808", "9223372036854775808"),  # 2**63: must not wrap negative
        ("18446744073709551616", "18446744073709551616"),
        ("1.5", "1.5"),  # not truncated to 1
        ("-3", "-3"),
        ("1e3", "1e3"),
        (str(MAX_OBJECT_SIZE + 1), str(MAX_OBJECT_SIZE + 1)),
        ("", "''"),
    ],
)
def test_manifest_sizes_are_whole_bytes_in_range(tmp_path, size, fragment):
    path = tmp_path / "m.csv"
    path.write_text(f"key,size\na,10\nb,{size}\n")
    with pytest.raises(ScenarioError) as caught:
        read_manifest(path)
    message = str(caught.value)
    assert str(path) in message and "row 3" in message and fragment in message


def test_manifest_sizes_read_exactly(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(f"key,size\na,0\nb,{MAX_OBJECT_SIZE}\nc,10.0\n")
    keys, sizes = read_manifest(path)
    assert keys == ["a", "b", "c"] and sizes.tolist() == [0, MAX_OBJECT_SIZE, 10]


@pytest.mark.parametrize(
    "column",
    [
        np.array([1, 2**63], dtype=np.uint64),
        np.array([1.0, 2.5]),
        np.array([1.0, math.inf]),
        np.array([1, -1]),
    ],
    ids=["uint64-2**63", "fraction", "inf", "negative"],
)
def test_parquet_manifest_sizes_are_checked_before_the_cast(tmp_path, column):
    import pandas as pd

    path = tmp_path / "m.parquet"
    pd.DataFrame({"key": ["a", "b"], "size": column}).to_parquet(path)
    with pytest.raises(ScenarioError, match="row 3"):
        read_manifest(path)


# --- profiles ----------------------------------------------------------------------------------

PROFILE = {
    "profile": {"version": 1},
    "latency": {"first_byte_p50_ms": 10},
    "bandwidth": {"connection": 1e8},
    "list": {"page_base_s": 0.1},
}
PROFILE_CASES = [
    (section, key, value)
    for section, keys in PROFILE_SCHEMA.items()
    for key, (_, maximum, _) in keys.items()
    for value in (math.inf, math.nan, 10**400, maximum * 2 + 1, -1)
] + [("profile", "version", 1.5)]


@pytest.mark.parametrize(
    ("section", "key", "value"),
    PROFILE_CASES,
    ids=[f"{s}.{k}={str(v)[:10]}" for s, k, v in PROFILE_CASES],
)
def test_profile_numbers_are_finite_and_bounded(section, key, value):
    raw = json.loads(json.dumps(PROFILE))
    raw.setdefault(section, {})[key] = value
    with pytest.raises(ProfileError) as caught:
        build_profile(raw, path=Path("p.toml"))
    assert f"p.toml: {section}.{key} = " in str(caught.value) and "<=" in str(caught.value)


# --- summary.json is JSON --------------------------------------------------------------------


def strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"bare {constant} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_summary_json_writes_non_finite_figures_as_null(tmp_path):
    path = tmp_path / "summary.json"
    results_io.write_json(path, {"au": math.nan, "x": [math.inf, 1.5], "m": {"y": -math.inf}})
    assert strict_json(path.read_text()) == {"au": None, "x": [None, 1.5], "m": {"y": None}}


# --- through the command line: exit 2, one line, no traceback -----------------------------------

BAD_SCENARIO = """
[dataset]
objects = 4
prefix = "ranges/"
[dataset.sizes]
distribution = "fixed"
size = "1KiB"
"""
CLI_CASES = [
    ("size-1e400", BAD_SCENARIO.replace('"1KiB"', '"1e400 B"'), "dataset.sizes.size"),
    ("step-inf", BAD_SCENARIO + "[training]\nstep_bytes = inf\n", "training.step_bytes"),
    ("rate-1e400", BAD_SCENARIO + "[training]\ncompute_rate = 1e400\n", "training.compute_rate"),
    ("latency-inf", BAD_SCENARIO + "[cluster]\nfirst_byte_latency_ms = inf\n", "latency"),
    ("price-nan", BAD_SCENARIO + "[cluster]\nhourly_price = nan\n", "cluster.hourly_price"),
    ("model-gb-inf", BAD_SCENARIO + "[report]\nmodel_gb = inf\n", "report.model_gb"),
    ("epochs-1e9", BAD_SCENARIO + "[training]\nepochs = 1000000000\n", "training.epochs"),
    ("prefetch-1e9", BAD_SCENARIO + "[pipe]\nprefetch = 1000000000\n", "pipe.prefetch"),
    ("objects-1e12", BAD_SCENARIO.replace("objects = 4", "objects = 1000000000000"), "objects"),
    ("hosts-1e6", BAD_SCENARIO + "[cluster]\nhosts = 1000000\n", "cluster.hosts"),
    ("chunk-inf", BAD_SCENARIO + "[pipe]\nchunk_size = inf\n", "pipe.chunk_size"),
]
SAMPLE = ("size-1e400", "latency-inf", "epochs-1e9")
COMMANDS = [["skew"], ["startup", "--no-live"], ["validate", "--repeat", "1"], ["clean"]]
CLI_RUNS = [(["run"], *case) for case in CLI_CASES] + [
    (command, *case) for command in COMMANDS for case in CLI_CASES if case[0] in SAMPLE
]


@pytest.mark.parametrize(
    ("command", "name", "text", "field"), CLI_RUNS, ids=[f"{c[0][0]}-{c[1]}" for c in CLI_RUNS]
)
def test_cli_refuses_bad_numbers_at_load_for_every_command(tmp_path, command, name, text, field):
    path = write_scenario(tmp_path, text)
    results = tmp_path / "results"
    extra = [] if command[0] == "clean" else ["--results", str(results)]
    done = stagebench(command[0], str(path), *command[1:], *extra)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("stagebench: error:")]
    assert len(errors) == 1 and field in errors[0], done.stderr
    assert not results.exists()  # refused at load: nothing was run or written


def test_cli_run_refuses_what_the_machine_cannot_hold(tmp_path):
    text = BAD_SCENARIO + (
        '[cluster]\nhosts = 10000\n[modes]\nrun = ["pipe"]\n'
        '[pipe]\nprefetch = 1024\nchunk_size = "1GiB"\n'
    )
    path = write_scenario(tmp_path, text)
    done = stagebench("run", str(path), "--results", str(tmp_path / "results"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "pipe.prefetch or pipe.chunk_size" in done.stderr


def test_report_of_a_run_with_a_bad_report_section_is_one_line(tmp_path, embedded):
    from tests.support import make_scenario, quiet_run

    scenario = make_scenario(tmp_path, embedded.url, "ranges-report/", dataset={"objects": 4})
    result = quiet_run(scenario, tmp_path)
    assert result.status == "ok", result.error
    summary_path = result.run_dir / "summary.json"
    summary = strict_json(summary_path.read_text())
    for figures in summary["modes"].values():
        figures["au"] = None  # a figure with nothing to measure, as NaN is now written
    summary_path.write_text(json.dumps(summary))
    done = stagebench("report", str(result.run_dir))
    assert done.returncode == 0, done.stderr
    summary["scenario"]["config"]["report"] = {"model_gb": math.inf}
    summary_path.write_text(json.dumps(summary))  # Python writes Infinity, as old runs did
    done = stagebench("report", str(result.run_dir))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "report.model_gb = inf" in done.stderr


def test_readme_range_table_matches_the_code():
    from tests.support import REPO

    readme = (REPO / "README.md").read_text()
    for field, allowed in RANGES.items():
        assert f"| `{field}` | {allowed.text()} | {allowed.why} |" in readme, field
