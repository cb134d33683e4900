"""Model cards carry valid Hugging Face Hub metadata for every registry entry, read back with
``huggingface_hub``'s own card and eval-results parsers (offline)."""
import re

import pytest
from huggingface_hub import ModelCard

from topdown_zoo import model_card, paths
from topdown_zoo.registry import get_spec, list_models

SHIPPED = sorted(p.name for p in paths.shipped_hub_dir().iterdir() if (p / "README.md").is_file())


def _fake_metrics(spec):
    steps = {f"accuracy_t{k}": 0.5 for k in range(3)}
    return {"accuracy": 0.9, **steps, "subnet_fc_iou": 0.3, "examples": 1000, "gmm_components": 65, "mc_samples": 50,
            "_run": {"split": "test", "dataset": spec.dataset}}


@pytest.mark.parametrize("name", list_models())
def test_every_entry_card_parses_with_hub_task_dataset_id_and_results_only(name):
    spec = get_spec(name)
    card = ModelCard(model_card.render(spec=spec, metrics=_fake_metrics(spec)))
    data = card.data
    assert data.pipeline_tag in model_card.HUB_PIPELINE_TAGS
    assert data.library_name == "keras"
    # every registry dataset is described; a Hub id has the Hub's owner/name form
    assert spec.dataset in model_card.DATASETS
    for dataset_id in data.datasets or []:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", dataset_id), dataset_id
    # model-index: the Hub's task name, the headline result only (no settings, counts or detail rows)
    results = data.eval_results
    assert [r.metric_type for r in results] == ["accuracy"]
    assert results[0].task_type == data.pipeline_tag
    body = card.text
    assert "gmm_components 65" in body and "| accuracy_t1 | 0.5000 |" in body


def test_speech_commands_entries_are_audio_classification():
    assert get_spec("cbl-cnn-speechcommands").hub_task == "audio-classification"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_cards_parse_and_hold_only_headline_results(name):
    card = ModelCard((paths.shipped_hub_dir() / name / "README.md").read_text())
    assert card.data.pipeline_tag in model_card.HUB_PIPELINE_TAGS
    keys = [r.metric_type for r in card.data.eval_results]
    assert keys and not set(keys) & model_card.SETTING_KEYS
    assert not [k for k in keys if re.search(r"(_t\d+|_step\d+)$|^subnet_|_debris\d+", k)]
