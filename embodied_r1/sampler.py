"""Group-aware sampling: rows that share a group id land in the same generation batch (and process).

TRL's ``RepeatSampler`` shuffles prompts, cuts them into generation batches of ``batch_size`` unique prompts
and repeats each prompt ``mini_repeat_count`` times. :class:`GroupRepeatSampler` keeps that contract but
packs whole groups (e.g. one contact seen through several sensors) into bins, so a reward that compares rows
of one group (cross-sensor consistency) sees all of them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Sequence

import torch
from trl.trainer.utils import RepeatSampler


def pack_groups(groups: Sequence[Hashable], bin_size: int, generator: torch.Generator | None) -> list[list[int]]:
    """Pack row indices into full bins of ``bin_size`` so that each group sits in one bin.

    Groups are visited in random order and placed first-fit; a group larger than a bin is split into
    bin-sized pieces. Bins left incomplete are dropped, as ``RepeatSampler`` drops an incomplete last batch.

    Args:
        groups: Group id per row.
        bin_size: Rows per bin.
        generator: Torch generator for the shuffle (None: dataset order).

    Returns:
        Full bins (lists of row indices), in random order.

    >>> pack_groups(["a", "a", "b", "b", "c", "c"], 2, None)
    [[0, 1], [2, 3], [4, 5]]
    """
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    order = list(members)
    if generator is not None:
        order = [order[i] for i in torch.randperm(len(order), generator=generator).tolist()]
    bins: list[list[int]] = []
    for g in order:
        rows = members[g]
        for start in range(0, len(rows), bin_size):
            piece = rows[start:start + bin_size]
            for b in bins:
                if len(b) + len(piece) <= bin_size:
                    b.extend(piece)
                    break
            else:
                bins.append(list(piece))
    full = [b for b in bins if len(b) == bin_size]
    if generator is not None:
        full = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    return full


class GroupRepeatSampler(RepeatSampler):
    """``RepeatSampler`` whose generation batches hold whole groups.

    Args:
        data_source: The dataset.
        groups: Group id per row.
        mini_repeat_count: Completions per prompt (``num_generations``).
        batch_size: Unique prompts per generation batch (over all processes).
        num_processes: Processes sharing a generation batch; groups are packed per process so that a
            process's reward call sees the whole group.
        repeat_count: Reuse of a generation batch (``num_iterations * steps_per_generation``).
        shuffle, seed: As in ``RepeatSampler``.
    """

    def __init__(self, data_source, groups: Sequence[Hashable], mini_repeat_count: int, batch_size: int = 1,
                 num_processes: int = 1, repeat_count: int = 1, shuffle: bool = True, seed: int | None = None):
        super().__init__(data_source, mini_repeat_count, batch_size, repeat_count, shuffle, seed)
        if len(groups) != len(data_source):
            raise ValueError(f"groups has {len(groups)} entries for {len(data_source)} rows")
        self.groups = list(groups)
        self.num_processes = max(1, num_processes)
        self.bin_size = max(1, batch_size // self.num_processes)
        self._len = None

    def _chunks(self, gen: torch.Generator | None = None) -> list[list[int]]:
        gen = (gen or self.generator) if self.shuffle else None
        bins = pack_groups(self.groups, self.bin_size, gen)
        per = self.num_processes
        return [sum(bins[i:i + per], []) for i in range(0, len(bins) - per + 1, per)]

    def __iter__(self):
        for chunk in self._chunks():
            for _ in range(self.repeat_count):
                for index in chunk:
                    for _ in range(self.mini_repeat_count):
                        yield index

    def __len__(self) -> int:
        if self._len is None:
            # Pack on a copy of the generator, so asking for the length leaves the shuffle stream untouched.
            probe = None
            if self.shuffle:
                probe = torch.Generator()
                probe.set_state(self.generator.get_state())
            self._len = sum(len(c) for c in self._chunks(probe)) * self.mini_repeat_count * self.repeat_count
        return self._len
