"""The matched ladder: every preset resolves for every family, and AR/LLaDA match the Cola DiT within 2 %."""

import pytest

from cola_core.config import ConfigError
from cola_core.presets import get_preset, preset_names, resolve_config
from cola_core.registry import get_family


@pytest.mark.parametrize("preset", preset_names())
def test_backbones_match_within_two_percent(preset):
    counts = {
        f: get_family(f).count_params(resolve_config(f, preset, {"model.vocab_size": 4096}).model)
        for f in ("ar", "llada", "cola")
    }
    dit = counts["cola"].backbone
    assert dit > 0 and counts["cola"].vae > 0
    for family in ("ar", "llada"):
        assert counts[family].non_embedding == counts[family].backbone
        assert abs(counts[family].non_embedding - dit) / dit < 0.02, (family, counts[family].non_embedding, dit)


def test_paper_shapes_at_2b():
    ar = resolve_config("ar", "2b", {"model.vocab_size": 100278}).model
    cola = resolve_config("cola", "2b", {"model.vocab_size": 100278}).model
    assert (ar.n_layers, ar.dim, ar.backbone_ffn()) == (27, 2048, 8192)
    assert (cola.n_layers, cola.dim, cola.backbone_ffn()) == (24, 2048, 8192)
    emb = get_family("ar").count_params(ar)
    assert emb.total - emb.non_embedding == pytest.approx(410.7e6, rel=0.01)  # Table 9: 410.7M embeddings


def test_aliases_and_unknown_preset():
    assert get_preset("small") == get_preset("s") and get_preset("base") == get_preset("m")
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        resolve_config("ar", "huge")
