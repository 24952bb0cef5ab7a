"""The dataset cache: keys from settings, data-code version and the task's input-file fingerprint."""

import json
from pathlib import Path

import pytest

from embodied_r1.data import dataset_key, load_or_build
from embodied_r1.errors import UserError
from tests.fixtures.toy_task import ToyConfig, ToyTask


class FileToyTask(ToyTask):
    """The toy task with an input file: its ``answer`` column is the file's text, its fingerprint the text."""

    def __init__(self, path):
        self.path = path

    def build_dataset(self, cfg, seed, num_workers=1):
        ds = super().build_dataset(cfg, seed)
        text = self.path.read_text()
        return ds.map(lambda r: {"answer": text})

    def data_fingerprint(self, cfg):
        return self.path.read_text()


def test_key_is_unchanged_without_a_fingerprint():
    cfg = ToyConfig(rows=4)
    assert dataset_key("toy", cfg, 0, "1") == dataset_key("toy", cfg, 0, "1", "")
    assert dataset_key("toy", cfg, 0, "1", "abc") != dataset_key("toy", cfg, 0, "1", "abd")
    assert ToyTask().data_fingerprint(cfg) == ""  # the API default: a task that reads no files


def test_changed_input_file_builds_afresh(tmp_path):
    src = tmp_path / "labels.txt"
    src.write_text("111")
    task, cfg = FileToyTask(src), ToyConfig(rows=4)
    d1, p1 = load_or_build(task, cfg, 0, root=tmp_path / "cache")
    d_again, p_again = load_or_build(task, cfg, 0, root=tmp_path / "cache")
    assert p_again == p1 and set(d_again["train"]["answer"]) == {"111"}  # same files: the cache is reused
    src.write_text("222")
    d2, p2 = load_or_build(task, cfg, 0, root=tmp_path / "cache")
    assert p2 != p1 and set(d2["train"]["answer"]) == {"222"}
    assert json.loads((p2 / "card.json").read_text())["data_fingerprint"] == "222"


def test_atomic_dir_keeps_the_old_entry_when_a_write_fails(tmp_path):
    import pytest

    from embodied_r1.task import atomic_dir

    with atomic_dir(tmp_path / "entry") as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "entry") as tmp:
            (tmp / "v").write_text("2")
            raise RuntimeError("killed half way")
    assert (tmp_path / "entry" / "v").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]


def test_data_export_and_push_without_token(tmp_path, toy_registered, monkeypatch):
    from click.testing import CliRunner
    from datasets import load_from_disk

    from embodied_r1.cli import main

    out = tmp_path / "shared"
    res = CliRunner().invoke(main, ["data", "toy", "toy.rows=10", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert len(load_from_disk(str(out / "data"))["train"]) == 10
    assert json.loads((out / "card.json").read_text())["rows"]["train"] == 10
    res = CliRunner().invoke(main, ["data", "toy", "toy.rows=10", "--output", str(out)])
    assert res.exit_code == 2 and "is not empty" in res.output
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no stored token either
    res = CliRunner().invoke(main, ["data", "toy", "toy.rows=10", "--push-to-hub", "me/toy"])
    assert res.exit_code == 2 and "needs a Hugging Face token" in res.output


def test_workers_reach_the_task_but_not_the_cache_key(tmp_path, toy_registered, monkeypatch):
    from click.testing import CliRunner

    from embodied_r1.cli import main
    from embodied_r1.config import TrainConfig

    seen = []
    build = ToyTask.build_dataset
    monkeypatch.setattr(ToyTask, "build_dataset",
                        lambda self, cfg, seed, num_workers=1: seen.append(num_workers) or build(self, cfg, seed))
    monkeypatch.setenv("EMBODIED_R1_DATA", str(tmp_path / "cache"))
    _, p1 = load_or_build(ToyTask(), ToyConfig(rows=4), 0, num_workers=1)
    _, p3 = load_or_build(ToyTask(), ToyConfig(rows=4), 0, num_workers=3)
    assert p3 == p1 and seen == [1]  # the second call is a cache hit: the worker count is not in the key
    res = CliRunner().invoke(main, ["data", "toy", "toy.rows=4", "--rebuild", "--workers", "2"])
    assert res.exit_code == 0 and str(p1) in res.output, res.output
    res = CliRunner().invoke(main, ["data", "toy", "toy.rows=4", "--rebuild", "data_workers=5"])
    assert res.exit_code == 0 and seen == [1, 2, 5], res.output
    with pytest.raises(UserError, match="data_workers"):
        TrainConfig(task="toy", data_workers=0)


class SlowCountingToyTask(ToyTask):
    """The toy task taking a while to build, noting each build in a file."""

    def __init__(self, log):
        self.log = log

    def build_dataset(self, cfg, seed, num_workers=1):
        import time

        with open(self.log, "a") as f:
            f.write("built\n")
        time.sleep(1.0)
        return super().build_dataset(cfg, seed)


def _build_in_process(log, root, out):
    _, path = load_or_build(SlowCountingToyTask(log), ToyConfig(rows=6), 0, root=root)
    Path(out).write_text(str(path))


def test_runs_started_together_build_their_data_once(tmp_path):
    import multiprocessing as mp

    log, root = tmp_path / "builds.txt", tmp_path / "cache"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_build_in_process, args=(str(log), str(root), str(tmp_path / f"p{i}")))
             for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert log.read_text().splitlines() == ["built"]  # one build; the other two waited and read the cache
    paths = {(tmp_path / f"p{i}").read_text() for i in range(3)}
    assert len(paths) == 1 and (Path(paths.pop()) / "card.json").exists()
