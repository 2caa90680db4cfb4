"""The GPU cluster launcher config and the KubeRay RayJob parse, carry the required fields, and
point at study files that exist and plan cleanly."""

import shlex
from pathlib import Path

import yaml

from cola_platform.scaling.runner import plan
from sweeps.scaling_plan import load_scaling_study

ROOT = Path(__file__).resolve().parents[2]


def test_launcher_yaml_has_gpu_workers_and_a_head():
    cfg = yaml.safe_load((ROOT / "cluster" / "gpu-cluster.yaml").read_text())
    for key in ("cluster_name", "provider", "available_node_types", "head_node_type", "setup_commands"):
        assert key in cfg, key
    nodes = cfg["available_node_types"]
    assert cfg["head_node_type"] in nodes
    gpu = [n for n in nodes.values() if n.get("resources", {}).get("GPU", 0) > 0]
    assert gpu and all(n["max_workers"] >= 1 for n in gpu)
    assert any("pip install" in c for c in cfg["setup_commands"])


def test_rayjob_manifest_runs_a_real_study():
    job = yaml.safe_load((ROOT / "cluster" / "kuberay-rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == "2.60.0"
    assert cluster["headGroupSpec"]["template"]["spec"]["containers"]
    workers = cluster["workerGroupSpecs"]
    assert any(
        c["resources"]["limits"].get("nvidia.com/gpu") for w in workers for c in w["template"]["spec"]["containers"]
    )
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == ["python", "-m", "jobs.scaling"]
    study_file = ROOT / argv[argv.index("--study") + 1]
    study = load_scaling_study(study_file)
    runs, _ = plan(study, prepare=False)
    assert runs and all(not r.skipped for r in runs)
    assert max(r.budget for r in runs) >= 1.5e21  # up to ~2000 EFLOPs


def test_paper_study_matches_the_paper_setup():
    study = load_scaling_study(ROOT / "studies" / "paper_2b.toml")
    o = study.overrides
    tokens_per_step = o["train.micro_batch_size"] * o["train.grad_accum"] * study.workers * study.prepare["seq_len"]
    assert tokens_per_step == 720_896 and study.prepare["seq_len"] == 512
    assert (o["optim.beta1"], o["optim.beta2"], o["optim.weight_decay"], o["optim.lr"]) == (0.9, 0.95, 0.01, 1.5e-4)
    assert "2b" in study.presets
