from collections import Counter

import torch

from embodied_r1.sampler import GroupRepeatSampler, pack_groups


def test_pack_groups_keeps_groups_whole_and_bins_full():
    groups = [f"g{i // 3}" for i in range(30)] + [f"h{i // 2}" for i in range(20)]
    bins = pack_groups(groups, 6, torch.Generator().manual_seed(0))
    assert bins and all(len(b) == 6 for b in bins)
    seen = Counter(i for b in bins for i in b)
    assert max(seen.values()) == 1
    for b in bins:
        for g in {groups[i] for i in b}:
            members = [i for i, x in enumerate(groups) if x == g]
            assert set(members) <= set(b), f"group {g} split across bins"


def test_oversized_group_is_split_into_bins():
    bins = pack_groups(["a"] * 5, 2, None)
    assert bins == [[0, 1], [2, 3]]


def test_group_members_share_a_generation_batch():
    groups = [f"c{i // 4}" for i in range(64)]  # contacts seen by 4 sensors
    ds = list(range(64))
    num_gen, batch_prompts = 2, 8
    s = GroupRepeatSampler(ds, groups, mini_repeat_count=num_gen, batch_size=batch_prompts, repeat_count=1,
                           shuffle=True, seed=3)
    order = list(s)
    assert len(order) == len(s)
    per_batch = num_gen * batch_prompts
    batches = [order[i:i + per_batch] for i in range(0, len(order), per_batch)]
    for b in batches:
        for g in {groups[i] for i in b}:
            assert all(groups[i] != g for j in batches if j is not b for i in j), "group spans two batches"
    # each prompt repeated num_generations times consecutively, as TRL's RepeatSampler does
    assert order[0] == order[1] and all(Counter(b)[i] == num_gen for b in batches for i in set(b))


def test_groups_stay_on_one_process():
    groups = [f"c{i // 2}" for i in range(32)]
    s = GroupRepeatSampler(list(range(32)), groups, mini_repeat_count=1, batch_size=8, num_processes=2, shuffle=True, seed=0)
    order = list(s)
    for start in range(0, len(order), 4):  # each process takes 4 consecutive prompts per generation batch
        chunk = order[start:start + 4]
        for i in chunk:
            partner = [j for j in range(32) if groups[j] == groups[i] and j != i][0]
            assert partner in chunk


def test_same_seed_same_order():
    groups = [i // 3 for i in range(30)]
    a = list(GroupRepeatSampler(list(range(30)), groups, 2, 6, shuffle=True, seed=1))
    b = list(GroupRepeatSampler(list(range(30)), groups, 2, 6, shuffle=True, seed=1))
    assert a == b


def test_len_does_not_disturb_the_shuffle():
    groups = [i // 3 for i in range(30)]
    a = GroupRepeatSampler(list(range(30)), groups, 2, 6, shuffle=True, seed=5)
    b = GroupRepeatSampler(list(range(30)), groups, 2, 6, shuffle=True, seed=5)
    n = len(a)
    first = list(a)
    assert first == list(b) and n == len(first)
    assert list(a) != first or len(set(groups)) == 1  # the next epoch continues the stream, not a rewind
