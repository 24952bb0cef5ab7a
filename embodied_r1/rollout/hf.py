"""The ``hf`` engine: ``model.generate`` behind the rollout contract (the reference for correctness)."""

from __future__ import annotations

from typing import Sequence

from embodied_r1.rollout import RolloutEngine, RolloutRequest, RolloutSample


class HFEngine(RolloutEngine):
    """Batched ``model.generate`` over a Qwen2.5-VL processor: ``rollout.batch_size`` prompts a call, requests of
    equal sampling settings together, ``num_return_sequences = n``."""

    name = "hf"

    def generate(self, requests: Sequence[RolloutRequest]) -> list[list[RolloutSample]]:
        self.sync_weights()  # a sharded policy's copy, gathered before any rank generates
        out: list[list[RolloutSample] | None] = [None] * len(requests)
        groups: dict = {}  # requests of equal sampling settings (a frozen, hashable dataclass) and n share calls
        for i, r in enumerate(requests):
            groups.setdefault((r.sampling, r.n), []).append(i)
        for (_, n), idx in groups.items():
            for start in range(0, len(idx), self.cfg.batch_size):
                chunk = idx[start:start + self.cfg.batch_size]
                for i, samples in zip(chunk, self._generate([requests[i] for i in chunk], n)):
                    out[i] = samples
        return out  # type: ignore[return-value]

    def _generate(self, requests: list[RolloutRequest], n: int) -> list[list[RolloutSample]]:
        import torch

        sampling = requests[0].sampling
        batch = self.encode(requests)
        device = next(self.model.parameters()).device
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        stop = list(self.stop_ids(sampling))
        kwargs = dict(max_new_tokens=sampling.max_new_tokens, min_new_tokens=sampling.min_new_tokens,
                      do_sample=not sampling.greedy, num_return_sequences=n, eos_token_id=stop,
                      pad_token_id=self.processor.tokenizer.pad_token_id, return_dict_in_generate=True,
                      output_logits=True, suppress_tokens=list(self.suppress_ids) or None)
        if not sampling.greedy:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k or None)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                res = self.model.generate(**batch, **kwargs)
        finally:
            self.model.train(was_training)
        plen = batch["input_ids"].shape[1]
        new = res.sequences[:, plen:].cpu()
        logits = torch.stack(res.logits, dim=1).float()  # (rows, steps, vocab)
        if not sampling.greedy:
            logits = logits / sampling.temperature
        logps = torch.log_softmax(logits, dim=-1).gather(-1, new[:, :logits.shape[1]].to(logits.device).unsqueeze(-1))
        logps = logps.squeeze(-1).cpu()
        prompt_ids = [row[m.bool()].tolist() for row, m in zip(batch["input_ids"].cpu(), batch["attention_mask"].cpu())]
        result = []
        for r in range(len(requests)):
            samples = []
            for j in range(n):
                row = r * n + j
                ids = new[row].tolist()
                end = next((k for k, t in enumerate(ids) if t in stop), None)
                if end is not None and end >= sampling.min_new_tokens:
                    ids, reason = ids[:end + 1], "stop"
                else:
                    ids, reason = ids[:sampling.max_new_tokens], "length"
                samples.append(RolloutSample(prompt_ids[r], ids, logps[row, :len(ids)].tolist(), self.decode(ids),
                                             reason))
            result.append(samples)
        return result
