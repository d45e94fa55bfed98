"""Hosts on a real Dask LocalCluster (2 worker processes) against the embedded server."""

from __future__ import annotations

import pandas as pd

from tests.support import make_scenario, quiet_run


def test_dask_and_local_agree_in_schema_bytes_and_requests(tmp_path, embedded, unique_prefix):
    sections = {
        "cluster": {"hosts": 4, "concurrency": 4},
        "modes": {"run": ["file", "pipe", "fastfile"]},
        # One FastFile reader: with several, the order of consumption is the order pieces
        # complete, which differs from run to run.
        "training": {"verify": True, "epochs": 2, "shuffle_seed": 1, "readers": 1},
    }
    local = quiet_run(make_scenario(tmp_path, embedded.url, unique_prefix, **sections), tmp_path)
    dask = quiet_run(
        make_scenario(
            tmp_path,
            embedded.url,
            unique_prefix,
            execution={"engine": "dask", "dask": "local:2"},
            **sections,
        ),
        tmp_path,
    )
    assert local.status == "ok" and dask.status == "ok", dask.summary["error"]
    for name in ("hosts.csv", "epochs.csv"):
        a = pd.read_csv(local.run_dir / name)
        b = pd.read_csv(dask.run_dir / name)
        assert list(a.columns) == list(b.columns), name
        assert len(a) == len(b)
    ea = pd.read_parquet(local.run_dir / "events.parquet")
    eb = pd.read_parquet(dask.run_dir / "events.parquet")
    assert list(ea.columns) == list(eb.columns) and list(ea.dtypes) == list(eb.dtypes)
    counts = ["mode", "host", "op"]
    pd.testing.assert_frame_equal(
        ea.groupby(counts)["bytes"].agg(["count", "sum"]),
        eb.groupby(counts)["bytes"].agg(["count", "sum"]),
    )
    # The same bytes reached every consumer, in the same order, on the workers.
    key = ["mode", "host", "epoch"]
    sa = local.epochs.set_index(key)["sha256"].sort_index()
    sb = dask.epochs.set_index(key)["sha256"].sort_index()
    pd.testing.assert_series_equal(sa, sb)
    assert dask.summary["execution"]["engine"] == "dask"
    # Event times share one clock: every host's first request starts near the common start.
    first = eb[eb["op"] != "LIST"].groupby(["mode", "host"])["start_s"].min()
    assert (first >= 0).all()
