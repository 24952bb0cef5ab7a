"""Test configuration: offline, headless, a private dataset cache, and the test-only toy task."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _data_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EMBODIED_R1_DATA", str(tmp_path_factory.getbasetemp() / "data_cache"))


@pytest.fixture
def toy_registered():
    """Register the test-only toy task for the duration of a test."""
    from embodied_r1.registry import REGISTRY
    from tests.fixtures.toy_task import ToyTask

    REGISTRY.unregister("toy")
    REGISTRY.register("toy", ToyTask)
    yield "toy"
    REGISTRY.unregister("toy")
