"""DescribeTrainingJob records in the API's documented shape, built from known phases, and a
check of that shape against botocore's service model for SageMaker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MODE_NAMES = {"file": "File", "pipe": "Pipe", "fastfile": "FastFile"}


def describe_training_job(
    name: str,
    *,
    mode: str,
    phases: dict[str, float],
    hosts: int = 1,
    instance: str = "ml.m5.xlarge",
    volume_gb: int = 30,
    channels: dict[str, bool] | None = None,
    start: float = 1_700_000_000.0,
    iso: bool = False,
) -> dict[str, Any]:
    """A finished job whose status transitions last ``phases`` seconds (``starting``,
    ``downloading``, optional ``image``, ``training``, ``uploading``). ``channels`` maps a
    channel name to whether it is ShardedByS3Key. ``iso``: timestamps as the AWS CLI prints
    them (ISO 8601) rather than epoch seconds."""

    def stamp(t: float) -> Any:
        return datetime.fromtimestamp(t, UTC).isoformat() if iso else t

    order = [
        ("Starting", "starting"),
        ("Downloading", "downloading"),
        ("DownloadingTrainingImage", "image"),
        ("Training", "training"),
        ("Uploading", "uploading"),
    ]
    transitions = []
    t = start
    for status, key in order:
        if key not in phases:
            continue
        transitions.append(
            {
                "Status": status,
                "StartTime": stamp(t),
                "EndTime": stamp(t + phases[key]),
                "StatusMessage": f"{status} phase",
            }
        )
        t += phases[key]
    transitions.append(
        {"Status": "Completed", "StartTime": stamp(t), "StatusMessage": "Training job completed"}
    )
    billable = sum(phases.get(k, 0.0) for k in ("downloading", "image", "training", "uploading"))
    channels = channels or {"train": True}
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://bucket/output/{name}/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest",
            "TrainingInputMode": MODE_NAMES[mode],
        },
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://bucket/data/{channel}/",
                        "S3DataDistributionType": (
                            "ShardedByS3Key" if sharded else "FullyReplicated"
                        ),
                    }
                },
                "InputMode": MODE_NAMES[mode],
            }
            for channel, sharded in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output/"},
        "ResourceConfig": {
            "InstanceType": instance,
            "InstanceCount": hosts,
            "VolumeSizeInGB": volume_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": stamp(start),
        "TrainingStartTime": stamp(start + phases.get("starting", 0.0)),
        "TrainingEndTime": stamp(t),
        "LastModifiedTime": stamp(t),
        "SecondaryStatusTransitions": transitions,
        "TrainingTimeInSeconds": int(round(billable)),
        "BillableTimeInSeconds": int(round(billable)),
    }


def botocore_shape_errors(record: dict[str, Any]) -> str:
    """What botocore's SageMaker model finds wrong with ``record`` as a DescribeTrainingJob
    response ('' when it fits the documented shape)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("DescribeTrainingJob").output_shape
    report = ParamValidator().validate(record, shape)
    return report.generate_report() if report.has_errors() else ""


def write_job(
    folder: Path,
    record: dict[str, Any],
    channels: dict[str, dict[str, Any]],
    *,
    output: dict[str, Any] | None = None,
) -> Path:
    """The record as ``<name>.json`` and its ``<name>.channels.toml`` sidecar."""
    path = folder / f"{record['TrainingJobName']}.json"
    path.write_text(json.dumps(record, indent=2))
    lines = []
    for channel, spec in channels.items():
        lines.append(f"[channels.{channel}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in spec.items())
    if output:
        lines.append("[output]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in output.items())
    path.with_name(path.stem + ".channels.toml").write_text("\n".join(lines) + "\n")
    return path
