"""Prepared SFT inputs: computed once, cached with the rows, and batched into exactly TRL's batches."""

import pytest
import torch

from embodied_r1.config import ModelConfig
from embodied_r1.data import load_or_build
from embodied_r1.inputs import PreparedCollator, prepare_sft_inputs
from embodied_r1.models.factory import make_model, make_processor
from embodied_r1.registry import make_task
from embodied_r1.trainer import make_sft_trainer, sft_dataset


@pytest.fixture(scope="module")
def touch_rows(tmp_path_factory):
    import os

    os.environ["EMBODIED_R1_DATA"] = str(tmp_path_factory.mktemp("inputs_cache"))
    task = make_task("touch")
    cfg = task.config_cls(train_contacts=12, test_contacts=2)
    data, _ = load_or_build(task, cfg, seed=5, num_workers=1)
    return task, sft_dataset(task, data["train"])


@pytest.mark.parametrize("max_length", [None, 40])
def test_prepared_batches_equal_trls_collator(touch_rows, max_length):
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    _, rows = touch_rows
    processor = make_processor("tiny")
    prepared = prepare_sft_inputs(rows, processor)
    assert set(prepared.column_names) == {"input_ids", "labels", "mm_token_type_ids", "pixel_values", "image_grid_thw"}
    idx = [3, 0, 7, 1, 10]  # rows of different lengths and image counts, out of order
    want = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True, max_length=max_length)(
        [rows[i] for i in idx])
    got = PreparedCollator(processor.tokenizer.pad_token_id, max_length)(prepared.__getitems__(idx))
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
    if max_length is None:
        assert (got["labels"] != -100).any() and (got["labels"] == -100).any()  # completion tokens only
    else:
        assert got["input_ids"].shape[1] == max_length


def test_preparation_is_cached_and_keyed_by_the_processor(touch_rows):
    _, rows = touch_rows
    first = prepare_sft_inputs(rows, make_processor("tiny"))
    again = prepare_sft_inputs(rows, make_processor("tiny"))
    assert again._fingerprint == first._fingerprint
    assert again.cache_files and again.cache_files == first.cache_files  # read back from the file next to the rows
    other = prepare_sft_inputs(rows, make_processor("tiny", max_pixels=28 * 28 * 16))
    assert other._fingerprint != first._fingerprint
    assert other.cache_files != first.cache_files


def test_sft_on_prepared_inputs_trains_exactly_like_trls_collator(touch_rows, tmp_path):
    task, _ = touch_rows
    data, _ = load_or_build(task, task.config_cls(train_contacts=12, test_contacts=2), seed=5, num_workers=1)
    losses = {}
    for prepared in (True, False):
        model, processor = make_model(ModelConfig(name="tiny", dtype="float32"), seed=0)
        trainer = make_sft_trainer(task, model, processor, data["train"],
                                   {"max_steps": 3, "per_device_train_batch_size": 4, "logging_steps": 1,
                                    "report_to": [], "save_strategy": "no"},
                                   tmp_path / str(prepared), seed=0, prepared_inputs=prepared)
        trainer.train()
        losses[prepared] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses[True]) == 3
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)


def test_stored_rope_positions_give_the_models_own_forward(touch_rows):
    """With the model, rows also carry the rope positions its ``get_rope_index`` computes; a padded batch that
    brings them gives the same logits as the forward pass that computes them itself."""
    _, rows = touch_rows
    model, processor = make_model(ModelConfig(name="tiny", dtype="float32"), seed=0)
    prepared = prepare_sft_inputs(rows, processor, model)
    assert "position_ids" in prepared.column_names
    assert prepared._fingerprint != prepare_sft_inputs(rows, processor)._fingerprint  # the model is in the key
    batch = PreparedCollator(processor.tokenizer.pad_token_id)(prepared.__getitems__([3, 0, 7, 1, 10]))
    assert batch["position_ids"].shape == (3, *batch["input_ids"].shape)
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "position_ids")}
    with torch.no_grad():
        want = model(**inputs).logits
        got = model(**inputs, position_ids=batch["position_ids"]).logits
    mask = batch["attention_mask"].bool()
    torch.testing.assert_close(got[mask], want[mask])
    # and they are used: every token at position 0 gives other logits (the equality above holds to ~1e-6)
    with torch.no_grad():
        off = model(**inputs, position_ids=torch.zeros_like(batch["position_ids"])).logits
    assert (off[mask] - want[mask]).abs().max() > 1e-4


def test_preparing_in_spawned_processes_gives_the_same_rows(touch_rows):
    """Several processes (spawned; the rope positions added afterwards in this one) store exactly the rows one
    process does; a later call reads their shards back with any number of processes, or the one-process file."""
    from pathlib import Path

    _, rows = touch_rows
    rows = rows.shuffle(seed=1).flatten_indices()  # rows of their own: no earlier test prepared them
    model, processor = make_model(ModelConfig(name="tiny", dtype="float32"), seed=0)
    many = prepare_sft_inputs(rows, processor, model, num_proc=4, rows_per_process=6)
    folder = Path(rows.cache_files[0]["filename"]).parent
    assert len(list(folder.glob("cache-*_of_00004.arrow"))) == 4  # a shard per process
    again = prepare_sft_inputs(rows, processor, model, num_proc=6, rows_per_process=4)  # another number
    assert again.cache_files == many.cache_files and not list(folder.glob("cache-*_of_00006.arrow"))
    one = prepare_sft_inputs(rows, processor, model)
    assert many.column_names == one.column_names
    for k in one.column_names:
        assert many[k] == one[k], k
    # a finished one-process file is read, not prepared again
    assert prepare_sft_inputs(rows, processor, model, num_proc=4, rows_per_process=6).cache_files == one.cache_files
    # too few rows for four processes (or fewer processes than are worth spawning): one process
    assert prepare_sft_inputs(rows, processor, model, num_proc=4, rows_per_process=7).cache_files == one.cache_files
    assert prepare_sft_inputs(rows, processor, model, num_proc=3, rows_per_process=1).cache_files == one.cache_files
