"""What the model needs from a scenario and a storage profile: the profile that describes an
endpoint, the model's arguments for a scenario and the storage resolved for its hosts."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.config.scenario import Scenario
from bench.errors import StagebenchError


def endpoint_kind(spec: str) -> str:
    """'embedded', 'aws' or 'url': the kind of endpoint a ``storage.endpoint`` value names."""
    return spec if spec in ("embedded", "aws") else "url"


def default_profile(endpoint_kind: str) -> str:
    """The profile that describes an endpoint unless the user gives one."""
    if endpoint_kind == "embedded":
        return "embedded"
    if endpoint_kind == "aws":
        return "aws-s3-standard"
    raise StagebenchError(
        "no calibrated profile for this endpoint: run 'stagebench calibrate --endpoint URL' "
        "and pass the file with --storage-profile"
    )


def model_arguments(scenario: Scenario, sizes: np.ndarray) -> dict[str, Any]:
    """The model's view of a scenario: everything but the storage."""
    from bench.core.model import PathParams, Training

    ff, training = scenario.fastfile, scenario.training
    sizes = np.asarray(sizes, dtype=np.int64)
    # A rate in objects becomes bytes/s through this dataset's mean object size.
    mean_object_bytes = float(sizes.mean()) if sizes.size else 0.0
    return {
        "sizes": sizes,
        "hosts": scenario.cluster.hosts,
        "distribution": scenario.distribution.type,
        "assignment": scenario.distribution.assignment,
        "params": PathParams(
            concurrency=scenario.cluster.concurrency,
            prefetch=scenario.pipe.prefetch,
            chunk_bytes=scenario.pipe.chunk_size,
            part_size=ff.part_size,
            read_ahead=ff.read_ahead,
            access=ff.access,
            record_size=ff.record_size,
            reads_per_file=ff.reads_per_file,
            verify_etag=scenario.storage.verify_etag,
        ),
        "training": Training(
            epochs=training.epochs,
            compute_bps=training.compute_bps_for(mean_object_bytes),
            step_bytes=training.step_bytes,
            barrier=training.barrier,
            shuffle_seed=training.shuffle_seed,
            readers=training.readers,
        ),
        "modes": scenario.modes,
    }


def scenario_storage(profile: Any, scenario: Scenario, *, keys_in_bucket: int) -> Any:
    """The profile resolved for this scenario's hosts (NIC cap, emulated latency)."""
    return profile.storage(
        keys_in_bucket=keys_in_bucket,
        nic_bps=scenario.cluster.nic_bandwidth_bps,
        extra_latency_s=scenario.cluster.first_byte_latency_s,
    )
