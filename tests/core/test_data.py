"""The dataset cache: keys from settings, data-code version and the task's input-file fingerprint."""

import json

from embodied_r1.data import dataset_key, load_or_build
from tests.fixtures.toy_task import ToyConfig, ToyTask


class FileToyTask(ToyTask):
    """The toy task with an input file: its ``answer`` column is the file's text, its fingerprint the text."""

    def __init__(self, path):
        self.path = path

    def build_dataset(self, cfg, seed):
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
