"""SageMaker training jobs in and out: reading, validation against botocore's model, scenarios
per channel, the checks, and the recommended job round-tripped through botocore's own request
validation. Job JSON is written in the API's documented shapes."""

from __future__ import annotations

import copy
import json

import botocore.session
import numpy as np
import pytest
from botocore.validate import validate_parameters

from bench.analysis import jobcheck
from bench.config.job import (
    CREATE,
    DEFINITION,
    DESCRIBE,
    JobError,
    channel_scenarios,
    detect_kind,
    dump_job,
    load_job,
    load_sidecar,
    parse_job,
    recommended_job,
)
from bench.errors import StagebenchError
from bench.report.capacity import Allowances
from bench.units import GIB
from tests.support import REPO, stagebench

EXAMPLE = REPO / "scenarios" / "jobs" / "image-classifier.json"


def s3_channel(name, uri, *, distribution="FullyReplicated", mode=None, data_type="S3Prefix"):
    channel = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": data_type,
                "S3Uri": uri,
                "S3DataDistributionType": distribution,
            }
        },
    }
    if mode:
        channel["InputMode"] = mode
    return channel


def create_request(*channels, mode="File", instance="ml.m5.xlarge", count=2, volume=50):
    return {
        "TrainingJobName": "unit-test-job",
        "RoleArn": "arn:aws:iam::111122223333:role/SageMakerRole",
        "AlgorithmSpecification": {
            "TrainingImage": "111122223333.dkr.ecr.us-east-1.amazonaws.com/train:latest",
            "TrainingInputMode": mode,
        },
        "InputDataConfig": list(channels) or [s3_channel("train", "s3://data-bucket/train/")],
        "OutputDataConfig": {"S3OutputPath": "s3://data-bucket/output/"},
        "ResourceConfig": {
            "InstanceType": instance,
            "InstanceCount": count,
            "VolumeSizeInGB": volume,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
    }


def describe_output():
    """What `aws sagemaker describe-training-job` prints for a finished two-channel job."""
    request = create_request(
        s3_channel("train", "s3://data-bucket/train/", distribution="ShardedByS3Key"),
        s3_channel("validation", "s3://data-bucket/validation/", mode="FastFile"),
    )
    return {
        **request,
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:training-job/unit-test-job",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://data-bucket/output/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "CreationTime": "2026-12-01T10:00:00.000000+00:00",
        "TrainingStartTime": "2026-12-01T10:02:00.000000+00:00",
        "TrainingEndTime": "2026-12-01T10:40:00.000000+00:00",
        "LastModifiedTime": "2026-12-01T10:41:00.000000+00:00",
        "SecondaryStatusTransitions": [
            {"Status": "Starting", "StartTime": "2026-12-01T10:00:00.000000+00:00"}
        ],
        "TrainingTimeInSeconds": 2280,
        "BillableTimeInSeconds": 2280,
        "EnableNetworkIsolation": False,
        "EnableInterContainerTrafficEncryption": False,
        "EnableManagedSpotTraining": False,
        "ResponseMetadata": {"RequestId": "0f2c", "HTTPStatusCode": 200},
    }


def create_shape():
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model("CreateTrainingJob").input_shape


def problems_of(raw):
    with pytest.raises(JobError) as caught:
        parse_job(raw, source="job.json")
    return caught.value.problems


# --- reading ---------------------------------------------------------------------------------


def test_one_channel_request_takes_its_mode_from_the_algorithm():
    job = parse_job(create_request(mode="Pipe"))
    assert job.kind == CREATE
    (channel,) = job.channels
    assert (channel.name, channel.input_mode, channel.mode, channel.mode_given) == (
        "train",
        "Pipe",
        "pipe",
        False,
    )
    assert channel.bucket_and_prefix == ("data-bucket", "train/")
    assert (job.instance_type, job.instance_count, job.volume_size_gb) == ("ml.m5.xlarge", 2, 50)
    assert job.max_runtime_s == 7200


def test_two_channels_file_and_fastfile_become_two_scenarios(tmp_path):
    raw = create_request(
        s3_channel("train", "s3://data-bucket/train/", distribution="ShardedByS3Key"),
        s3_channel("validation", "s3://data-bucket/validation/", mode="FastFile"),
        count=3,
    )
    job_path = tmp_path / "two.json"
    job_path.write_text(json.dumps(raw))
    (tmp_path / "two.stagebench.toml").write_text(
        "[training]\ncompute_rate = '100MB/s'\n"
        "[channels.train]\nobjects = 30\nsizes = {distribution = 'fixed', size = '1MiB'}\n"
        "[channels.validation]\nobjects = 5\nsizes = {distribution = 'fixed', size = '2KiB'}\n"
    )
    job = load_job(job_path)
    assert [(c.name, c.input_mode, c.distribution) for c in job.channels] == [
        ("train", "File", "ShardedByS3Key"),
        ("validation", "FastFile", "FullyReplicated"),
    ]
    scenarios = channel_scenarios(job, load_sidecar(job_path))
    train, validation = scenarios["train"], scenarios["validation"]
    assert train.is_training and not validation.is_training
    assert train.scenario.cluster.hosts == 3
    assert train.scenario.cluster.instance == "ml.m5.xlarge"
    assert train.scenario.distribution.type == "ShardedByS3Key"
    assert validation.scenario.distribution.type == "FullyReplicated"
    assert train.scenario.modes[0] == "file" and validation.scenario.modes[0] == "fastfile"
    assert sorted(train.scenario.modes) == sorted(validation.scenario.modes)
    assert (train.scenario.dataset.bucket, train.scenario.dataset.prefix) == (
        "data-bucket",
        "train/",
    )
    assert train.scenario.training.compute_bps == 100e6
    assert train.local_sizes().tolist() == [1024**2] * 30
    assert validation.local_sizes().tolist() == [2048] * 5


def test_training_job_definition_is_detected_and_read():
    definition = {
        "TrainingInputMode": "FastFile",
        "InputDataConfig": [s3_channel("training", "s3://data-bucket/t/", mode="File")],
        "OutputDataConfig": {"S3OutputPath": "s3://data-bucket/out/"},
        "ResourceConfig": {
            "InstanceType": "ml.g5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    assert detect_kind(definition) == DEFINITION
    job = parse_job(definition)
    assert job.training_input_mode == "FastFile"
    assert job.channels[0].input_mode == "File"
    assert job.training_channel().name == "training"


def test_describe_output_is_detected_and_read():
    raw = describe_output()
    assert detect_kind(raw) == DESCRIBE
    job = parse_job(raw)
    assert [c.input_mode for c in job.channels] == ["File", "FastFile"]


def test_something_else_is_one_line():
    with pytest.raises(JobError) as caught:
        parse_job({"dataset": {"objects": 3}})
    message = str(caught.value)
    assert "\n" not in message and "found keys: dataset" in message


# --- validation against the model ------------------------------------------------------------


def test_twenty_one_channels_are_refused_naming_the_limit():
    channels = [s3_channel(f"c{i}", f"s3://data-bucket/c{i}/") for i in range(21)]
    (problem,) = problems_of(create_request(*channels))
    assert problem.startswith("InputDataConfig: 21 items; at most 20 allowed")


def test_twenty_channels_are_accepted():
    channels = [s3_channel(f"c{i}", f"s3://data-bucket/c{i}/") for i in range(20)]
    assert len(parse_job(create_request(*channels)).channels) == 20


def test_bad_enum_names_its_json_path_and_every_problem_is_listed():
    raw = create_request(
        s3_channel("train", "s3://data-bucket/train/"),
        s3_channel("validation", "s3://data-bucket/validation/"),
        s3_channel("test", "data-bucket/test/", distribution="Sharded"),
        count=0,
        volume=20_000,
    )
    raw["InputDataConfig"][1]["InputMode"] = "Stream"
    with pytest.raises(JobError) as caught:
        parse_job(raw, source="job.json")
    problems = caught.value.problems
    path = "InputDataConfig[2].DataSource.S3DataSource"
    expected = [
        f"{path}.S3DataDistributionType = 'Sharded': not a valid S3DataDistribution; "
        "allowed: FullyReplicated, ShardedByS3Key",
        f"{path}.S3Uri = 'data-bucket/test/': not a valid S3Uri",
        "InputDataConfig[1].InputMode = 'Stream': not a valid TrainingInputMode; "
        "allowed: Pipe, File, FastFile",
        "ResourceConfig.InstanceCount = 0: must be >= 1",
        "ResourceConfig.VolumeSizeInGB = 20000: must be 1 to 16,384",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("job.json: 5 problems in this CreateTrainingJob")
    assert all(line.startswith("job.json: ") for line in lines)


def test_missing_and_unknown_members_and_wrong_types():
    raw = create_request()
    del raw["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    raw["ResourceConfig"]["InstanceCount"] = "2"
    raw["InputDataConfig"][0]["Shuffle"] = True
    problems = problems_of(raw)
    assert "InputDataConfig[0].DataSource.S3DataSource.S3Uri: missing; it is required" in problems
    assert any(
        p.startswith("ResourceConfig.InstanceCount = '2': must be of type int") for p in problems
    )
    assert any(p.startswith("InputDataConfig[0].Shuffle: unknown field") for p in problems)


def test_duplicate_channel_names_are_refused():
    raw = create_request(
        s3_channel("train", "s3://data-bucket/a/"), s3_channel("train", "s3://data-bucket/b/")
    )
    (problem,) = problems_of(raw)
    assert problem.startswith("InputDataConfig[1].ChannelName = 'train': the same name as")


def test_not_json_is_one_line(tmp_path):
    path = tmp_path / "job.json"
    path.write_text("{not json")
    with pytest.raises(JobError) as caught:
        load_job(path)
    assert "\n" not in str(caught.value) and "not valid JSON" in str(caught.value)


# --- the sidecar -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[cluster]\nhosts = 4\n",
            "cluster.hosts is set by the job's ResourceConfig.InstanceCount",
        ),
        ("[dataset]\nobjects = 4\n", "unknown section [dataset]"),
        (
            "[channels.test]\nobjects = 4\nsizes = {distribution='fixed', size=1}\n",
            "names no channel",
        ),
        ("[channels.train]\nobjects = 4\n", "need both 'objects' and 'sizes'"),
        ("[job]\ntraining_channel = 'nope'\n", "is no channel of the job"),
    ],
)
def test_sidecar_mistakes_are_one_line(tmp_path, text, message):
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(create_request()))
    (tmp_path / "job.stagebench.toml").write_text(text)
    with pytest.raises(JobError) as caught:
        channel_scenarios(load_job(job_path), load_sidecar(job_path))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_sizes_from_a_key_size_manifest(tmp_path):
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(create_request()))
    (tmp_path / "train.csv").write_text("key,size\na.bin,10\nb.bin,300\nc.bin,20\n")
    (tmp_path / "job.stagebench.toml").write_text("[channels.train]\nsizes_from = 'train.csv'\n")
    (item,) = channel_scenarios(load_job(job_path), load_sidecar(job_path)).values()
    assert item.local_sizes().tolist() == [10, 300, 20]
    assert item.scenario.dataset.source == "s3"  # the channel's own S3Uri, for a live run


def test_a_channel_without_sizes_is_listed_from_its_s3_uri(tmp_path, embedded, unique_prefix):
    from bench.run.dataset import dataset_sizes
    from bench.s3.client import sync_client

    client = sync_client(embedded)
    client.create_bucket(Bucket="job-tests")
    for key, size in (("a.bin", 5), ("b.bin", 7000)):
        client.put_object(Bucket="job-tests", Key=unique_prefix + key, Body=b"x" * size)
    job_path = tmp_path / "job.json"
    job_path.write_text(
        json.dumps(create_request(s3_channel("train", f"s3://job-tests/{unique_prefix}")))
    )
    (tmp_path / "job.stagebench.toml").write_text(f"[storage]\nendpoint = '{embedded.url}'\n")
    (item,) = channel_scenarios(load_job(job_path), load_sidecar(job_path)).values()
    assert item.local_sizes() is None
    assert dataset_sizes(item.scenario).tolist() == [5, 7000]


# --- checks ----------------------------------------------------------------------------------


def busiest_file_bytes(job, sizes_by_channel):
    """Reference: object i of a sharded channel on host i mod n; everything on every host
    otherwise; File channels added up per host."""
    hosts = job.instance_count
    per_host = [0] * hosts
    for channel in job.channels:
        if channel.mode != "file":
            continue
        for index, size in enumerate(sizes_by_channel[channel.name]):
            if channel.distribution == "ShardedByS3Key":
                per_host[index % hosts] += int(size)
            else:
                for host in range(hosts):
                    per_host[host] += int(size)
    return max(per_host)


def two_channel_job(volume, *, instance="ml.m5.xlarge", count=3):
    return parse_job(
        create_request(
            s3_channel("train", "s3://b-1/train/", distribution="ShardedByS3Key"),
            s3_channel("validation", "s3://b-1/validation/"),
            count=count,
            volume=volume,
            instance=instance,
        )
    )


def seeded_sizes(seed, count, median):
    rng = np.random.default_rng(seed)
    return np.maximum(1, rng.lognormal(np.log(median), 1.0, count)).astype(np.int64)


def test_volume_shortfall_is_said_with_its_numbers():
    sizes = {"train": seeded_sizes(1, 300, 40e6), "validation": seeded_sizes(2, 20, 50e6)}
    allowances = Allowances(model_gb=1, checkpoint_gb=2, scratch_gb=1, headroom=0.2)
    job = two_channel_job(volume=5)
    needed = busiest_file_bytes(job, sizes) / GIB + 4
    assert needed > 5  # the test is about a shortfall
    finding = jobcheck.check_volume(job, sizes, allowances)
    assert finding.severity == "error"
    assert finding.figures["needed_gib"] == pytest.approx(needed)
    assert f"falls short by {needed - 5:.2f} GiB" in finding.message
    assert "You must provision the ML storage volume" in finding.source
    # the same job with the advised size holds it; without File channels only the allowances
    advised = int(finding.figures["advised_gb"])
    assert jobcheck.check_volume(job, sizes, allowances, volume_size_gb=advised).severity == "ok"
    streaming = jobcheck.check_volume(
        job, sizes, allowances, modes={"train": "pipe", "validation": "fastfile"}
    )
    assert streaming.figures["needed_gib"] == pytest.approx(4.0)


def test_volume_above_local_nvme_is_an_error():
    from bench.config.profile import load_instances

    disk = load_instances()["ml.g5.xlarge"].local_nvme_gib
    too_big = two_channel_job(volume=int(disk) + 1, instance="ml.g5.xlarge")
    finding = jobcheck.check_local_disk(too_big)
    assert finding.severity == "error" and f"at most {int(disk)}" in finding.message
    assert "cannot be greater than this total size" in finding.source
    assert jobcheck.check_local_disk(two_channel_job(volume=int(disk))).severity == "ok"
    with pytest.raises(StagebenchError, match="local NVMe"):
        recommended_job(
            create_request(instance="ml.g5.xlarge"), input_modes={}, volume_size_gb=int(disk) + 1
        )


def test_runtime_past_max_runtime_says_so():
    job = two_channel_job(volume=50)
    late = jobcheck.check_runtime(job, job.max_runtime_s + 1.5, basis="planned")
    assert late.severity == "error" and f"at least {job.max_runtime_s + 2:,}" in late.message
    assert jobcheck.check_runtime(job, job.max_runtime_s - 1, basis="planned").severity == "ok"
    beyond = jobcheck.check_runtime(job, 40 * 86_400, basis="planned")
    assert "cannot go past 2,419,200" in beyond.message


def test_sharded_channel_with_more_hosts_than_objects():
    job = two_channel_job(volume=50, count=5)
    sizes = {"train": np.array([10, 20, 30], dtype=np.int64)}
    empty = [f for f in jobcheck.check_sharding(job, sizes) if f.check == "empty-hosts"]
    assert len(empty) == 1 and empty[0].figures["empty"] == 2
    assert "2 hosts get no data" in empty[0].message


def test_skewed_sizes_overload_one_host():
    job = two_channel_job(volume=50, count=4)
    sizes = np.full(400, 1_000_000, dtype=np.int64)
    sizes[0] = 200_000_000  # one huge object: host 0 carries it
    (skew,) = jobcheck.check_sharding(job, {"train": sizes})
    mean = sizes.sum() / 4
    host0 = sizes[0::4].sum()
    assert skew.severity == "warning"
    assert skew.figures["busiest_host"] == 0
    assert skew.figures["imbalance_ratio"] == pytest.approx(host0 / mean)
    assert f"{host0 / mean:.2f}× the mean" in skew.message
    assert "one host in a training cluster is overloaded" in skew.source
    even = np.full(400, 1_000_000, dtype=np.int64)
    assert jobcheck.check_sharding(job, {"train": even})[0].severity == "ok"


# --- the recommended job ---------------------------------------------------------------------


def test_recommended_create_request_round_trips_through_botocore():
    raw = create_request(
        s3_channel("train", "s3://data-bucket/train/", distribution="ShardedByS3Key"),
        s3_channel("validation", "s3://data-bucket/validation/", mode="FastFile"),
    )
    before = copy.deepcopy(raw)
    out, diff = recommended_job(
        raw,
        input_modes={"train": "pipe", "validation": "FastFile"},
        volume_size_gb=8,
        instance_count=4,
        reasons={"train": "File's download is most of a short job", "VolumeSizeInGB": "no copy"},
    )
    assert raw == before  # the input is left alone
    validate_parameters(json.loads(dump_job(out)), create_shape())
    assert out["InputDataConfig"][0]["InputMode"] == "Pipe"
    assert "InputMode" in out["InputDataConfig"][1]  # given, unchanged
    assert out["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 4,
        "VolumeSizeInGB": 8,
    }
    assert diff == [
        "InputDataConfig[0].InputMode (channel train): File (from "
        "AlgorithmSpecification.TrainingInputMode) → Pipe: File's download is most of a short job",
        "ResourceConfig.VolumeSizeInGB: 50 → 8: no copy",
        "ResourceConfig.InstanceCount: 2 → 4",
    ]


def test_describe_output_becomes_a_create_request():
    raw = describe_output()
    raw["FieldOfANewerApi"] = {"Anything": 1}  # a newer API's output field: dropped, not refused
    out, diff = recommended_job(raw, input_modes={"validation": "file"}, volume_size_gb=60)
    validate_parameters(out, create_shape())
    for read_only in ("TrainingJobArn", "TrainingJobStatus", "ModelArtifacts", "ResponseMetadata"):
        assert read_only not in out
    assert out["InputDataConfig"][1]["InputMode"] == "File"
    assert diff[0].startswith("DescribeTrainingJob → CreateTrainingJob request: dropped")
    assert "TrainingJobArn" in diff[0]
    assert "FieldOfANewerApi" not in out
    assert any(line.startswith("TrainingJobName: kept") for line in diff)
    assert parse_job(out).kind == CREATE


def test_nothing_to_change_says_so_and_unknown_channels_are_refused():
    raw = create_request()
    out, diff = recommended_job(raw, input_modes={"train": "file"}, volume_size_gb=50)
    assert out == raw and diff == ["no change: the job already matches the recommendation"]
    with pytest.raises(StagebenchError, match="names no channel 'eval'"):
        recommended_job(raw, input_modes={"eval": "file"}, volume_size_gb=None)


# --- the command -----------------------------------------------------------------------------


def test_job_check_prints_findings_of_the_shipped_example():
    result = stagebench("job-check", str(EXAMPLE))
    assert result.returncode in (0, 1), result.stderr
    out = result.stdout
    assert "CreateTrainingJob image-classifier" in out
    assert "ResourceConfig.VolumeSizeInGB" in out and "InputDataConfig[0]" in out
    has_error = any(line.lstrip().startswith("error") for line in out.splitlines())
    assert result.returncode == (1 if has_error else 0)


def test_job_check_on_a_bad_job_is_exit_2_with_paths(tmp_path):
    raw = create_request(s3_channel("train", "s3://data-bucket/train/", distribution="Sharded"))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    result = stagebench("job-check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "InputDataConfig[0].DataSource.S3DataSource.S3DataDistributionType" in result.stderr


def test_hostile_jobs_are_job_errors_and_what_passes_botocore_accepts():
    """Seeded mutations of valid jobs: every outcome is a JobError or a request botocore's own
    validator accepts, never another exception."""
    import random

    junk = [None, [], {}, "", "x" * 2000, -1, 0, 10**30, 1.5, True, [1], {"a": 1}, "s3://"]
    rng = random.Random(11)

    def paths(value, path=()):
        if path:
            yield path
        if isinstance(value, dict | list):
            children = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in children:
                yield from paths(child, (*path, key))

    accepted = 0
    for _ in range(200):
        raw = copy.deepcopy(rng.choice([create_request(), describe_output()]))
        for _ in range(rng.randint(1, 3)):
            *parents, last = rng.choice(list(paths(raw)))
            holder = raw
            for key in parents:
                holder = holder[key]
            if isinstance(holder, dict) and rng.random() < 0.2:
                del holder[last]
            else:
                holder[last] = copy.deepcopy(rng.choice(junk))
        try:
            job = parse_job(raw)
            modes = {channel.name: "pipe" for channel in job.channels}
            out, _ = recommended_job(raw, input_modes=modes, volume_size_gb=9)
        except JobError:
            continue
        accepted += 1
        if job.kind != DEFINITION:
            validate_parameters(out, create_shape())
    assert 0 < accepted < 200
