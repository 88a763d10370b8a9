"""The GNN's item text feature (training/model.py): an item nobody took gets a vector from
its text alone, through the projection the items with interactions trained; on both
propagations. Text vectors are synthetic here (one direction per group, plus noise): the
real encoder is exercised in test_text.py and test_text_refresh.py."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dgl")

from training.config import TrainConfig
from training.data import TrainingData
from training.train import train

T0 = 1_700_000_000_000


def grouped(seed: int = 0) -> tuple[TrainingData, dict[str, np.ndarray]]:
    """Two groups of 12 users each taking 6 of their group's 8 items; one more item per group
    (new0, new1) has a text and no interaction."""
    rng = np.random.default_rng(seed)
    rows, texts = [], {}
    directions = np.eye(2, 16, dtype=np.float32)
    for g in (0, 1):
        for i in range(8):
            texts[f"g{g}i{i}"] = directions[g] + 0.2 * rng.standard_normal(16).astype(np.float32)
        texts[f"new{g}"] = directions[g] + 0.2 * rng.standard_normal(16).astype(np.float32)
        for u in range(12):
            for k, i in enumerate(rng.permutation(8)[:6]):
                rows.append({"user_id": f"g{g}u{u}", "item_id": f"g{g}i{i}", "weight": 1.0, "last_ts": T0 + k})
    data = TrainingData.from_rows(rows)
    return data.with_item_text(texts), texts


def test_with_item_text_adds_items_without_interactions_after_the_others() -> None:
    data, texts = grouped()
    assert data.n_items == 18 and data.items.ids[-2:] == ("new0", "new1")
    assert data.item_text is not None and data.item_text.shape == (18, 16)
    np.testing.assert_allclose(data.item_text[data.items.pos["new1"]], texts["new1"])
    assert data.subset(np.arange(10)).item_text is data.item_text


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("propagation", ["full", "sampled"])
def test_an_item_without_interactions_lands_near_its_texts_group(propagation: str, precision: str) -> None:
    data, _ = grouped()
    cfg = TrainConfig(dim=8, epochs=15, lr=0.05, batch_size=128, progress=False, device="cpu", seed=1,
                      propagation=propagation, fanouts=(5, 5), sampled_batch_size=64,
                      text_precision=precision)  # fmt: skip
    items = train(data, T0 + 10, cfg).embeddings["item"]
    unit = items / np.linalg.norm(items, axis=1, keepdims=True)
    for g in (0, 1):
        new = unit[data.items.pos[f"new{g}"]]
        own = [unit[data.items.pos[f"g{g}i{i}"]] @ new for i in range(8)]
        other = [unit[data.items.pos[f"g{1 - g}i{i}"]] @ new for i in range(8)]
        assert np.mean(own) > np.mean(other) + 0.2, (g, np.mean(own), np.mean(other))


def test_the_bfloat16_text_projection_agrees_with_float32_and_trains_the_weight() -> None:
    import torch

    from training.model import LightGCN

    torch.manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(300, 384), dim=1)
    sizes = {"user": 5, "item": 300, "interest": 2}
    exact = LightGCN(sizes, 64, item_text=text)
    fast = LightGCN(sizes, 64, item_text=text, text_dtype=torch.bfloat16)
    fast.load_state_dict(exact.state_dict())
    assert fast.item_text.dtype == torch.bfloat16 and exact.item_text.dtype == torch.float32
    want, got = exact.base("item"), fast.base("item")
    assert got.dtype == torch.float32
    # bfloat16 keeps 8 bits of mantissa: each product rounds at ~0.4 %, the sums in float32
    scale = want.abs().max().item()
    assert torch.allclose(got, want, atol=0.02 * scale), (got - want).abs().max()
    assert not torch.equal(got, want)  # the bfloat16 path really ran
    fast.base("item", torch.tensor([0, 5, 7])).sum().backward()
    assert fast.text_proj is not None and fast.text_proj.weight.grad is not None
    assert fast.text_proj.weight.grad.dtype == torch.float32 and fast.text_proj.weight.grad.abs().sum() > 0


def test_train_chooses_the_text_projections_precision() -> None:
    import torch

    from training.train import _text_dtype

    assert _text_dtype(TrainConfig(text_precision="float32"), "cpu") == torch.float32
    assert _text_dtype(TrainConfig(text_precision="bfloat16"), "cpu") == torch.bfloat16
    assert _text_dtype(TrainConfig(text_precision="auto"), "cuda") == torch.float32
    with pytest.raises(ValueError, match="precision"):
        _text_dtype(TrainConfig(text_precision="half"), "cpu")
