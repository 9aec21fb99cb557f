"""Site adaptation: a simulated site's reviews adapt the shipped model, a harmful adaptation is
refused, and switching models is one audited action that never touches earlier analyses."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from mscc_desktop import storage
from mscc_desktop.core.config import AppConfig, active_model_id, site_models_dir
from mscc_desktop.inference.backends import resolve_model
from mscc_desktop.inference.model_folder import load_model_folder
from mscc_desktop.training.adapt import (
    AdaptDepth,
    Figures,
    adapt_model,
    not_worse,
    plan_depth,
    split_by_patient,
)
from mscc_desktop.training.site_simulation import SimulatedSite, shuffle_labels, simulate_site
from mscc_desktop.workflow.model_choice import roll_back, use_model

SHIPPED = "mscc-compact-real"


def _figures(sens: float, spec: float, ac1: float) -> Figures:
    return Figures((sens, sens - 0.1, sens + 0.05), (spec, spec - 0.05, spec + 0.05),
                   (0.9, 0.8, 1.0), (ac1, ac1 - 0.1, ac1 + 0.1), 100, 20)  # fmt: skip


def test_a_model_is_worse_only_below_its_base_s_interval() -> None:
    base = _figures(0.9, 0.8, 0.7)
    assert not_worse(base, _figures(0.85, 0.76, 0.65)) == ()  # lower, but inside the intervals
    reasons = not_worse(base, _figures(0.75, 0.8, 0.7))
    assert len(reasons) == 1 and "sensitivity 0.750" in reasons[0]
    assert len(not_worse(base, _figures(0.9, 0.5, 0.3))) == 2


def test_depth_follows_the_amount_of_data_and_says_what_it_did() -> None:
    few = plan_depth(60, 4, 4, has_weights=True)  # many studies of few patients: recalibrate
    assert few.wanted is AdaptDepth.CALIBRATE and few.performed is few.wanted and few.note == ""
    more = plan_depth(80, 40, 12, has_weights=True)
    assert more.wanted is more.performed is AdaptDepth.PROTOTYPES_BN and more.note == ""
    many = plan_depth(400, 200, 50, has_weights=True)
    assert many.wanted is many.performed is AdaptDepth.FINE_TUNE
    assert plan_depth(400, 200, 5, has_weights=True).wanted is AdaptDepth.CALIBRATE
    onnx_only = plan_depth(400, 200, 50, has_weights=False)
    assert onnx_only.wanted is AdaptDepth.FINE_TUNE
    assert onnx_only.performed is AdaptDepth.CALIBRATE and "--trainable-weights" in onnx_only.note
    asked = plan_depth(8, 3, 1, has_weights=True, requested=AdaptDepth.FINE_TUNE)
    assert asked.performed is AdaptDepth.FINE_TUNE


def test_the_split_keeps_each_patient_on_one_side(tmp_path: Path) -> None:
    folders = [tmp_path / f"S{i:04d}" for i in range(9)]
    patient = {f.name: f"P{i // 2}" for i, f in enumerate(folders)}  # two studies a patient
    high = {f.name: i in (0, 4, 8) for i, f in enumerate(folders)}
    kept, held = split_by_patient(folders, patient, high, seed=1)
    assert {patient[f.name] for f in kept}.isdisjoint({patient[f.name] for f in held})
    assert len(kept) + len(held) == 9 and held
    assert any(high[f.name] for f in held) and any(high[f.name] for f in kept)
    with pytest.raises(Exception, match="at least 2 patients"):
        split_by_patient(folders[:2], {f.name: "P0" for f in folders[:2]}, high, seed=1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> SimulatedSite:
    return simulate_site(tmp_path_factory.mktemp("site"), n_studies=8, seed=3, error_rate=0.1)


def test_a_simulated_site_adapts_the_shipped_model_with_provenance(
    site: SimulatedSite, tmp_path: Path
) -> None:
    assert site.verdicts and site.n_studies == 8
    base = resolve_model(SHIPPED)
    result = adapt_model(base.folder, site.dataset, tmp_path / "adapted", model_id="site-a",
                         user="site admin")  # fmt: skip
    adapted = load_model_folder(result.folder)  # every checksum verified
    assert adapted.model_id == "site-a" and adapted.version.startswith(base.version + "+site.")
    assert adapted.model_sha256 != base.model_sha256
    assert math.isclose(adapted.probability_temperature, result.temperature)
    provenance = adapted.evaluation["site_adaptation"]
    assert provenance["base_model"] == SHIPPED and provenance["base_sha256"] == base.model_sha256
    assert provenance["user"] == "site admin" and provenance["date"]
    assert sum(provenance["adapt_slices_by_group"].values()) > 0
    assert provenance["held_out_base"]["n_slices"] == provenance["held_out_adapted"]["n_slices"]
    assert provenance["offered"] is result.offered
    assert result.n_held_out_patients >= 1 and result.n_adapt_patients >= 1


def _shuffled(site: SimulatedSite, folder: Path) -> Path:
    shutil.copytree(site.dataset, folder)
    shuffle_labels(folder, seed=0)
    return folder


def test_an_adaptation_on_shuffled_labels_is_refused_with_its_numbers(
    site: SimulatedSite, tmp_path: Path
) -> None:
    base = resolve_model(SHIPPED)
    data = _shuffled(site, tmp_path / "shuffled")
    result = adapt_model(base.folder, data, tmp_path / "harmful", model_id="site-bad")
    assert not result.offered and result.reasons
    written = load_model_folder(result.folder).evaluation["site_adaptation"]
    assert written["offered"] is False and written["refused_because"] == list(result.reasons)


def test_use_and_roll_back_are_audited_and_earlier_analyses_keep_their_model(
    site: SimulatedSite, tmp_path: Path
) -> None:
    config = AppConfig.default(db=site.store)
    base = resolve_model(SHIPPED)
    with pytest.raises(Exception, match="is not installed"):
        adapt_model(base.folder, site.dataset, tmp_path / "site-b", model_id="site-b")
        use_model(storage.open_memory_store(), str(tmp_path / "site-b"),
                  data_dir=config.data_dir, models_root=config.models_dir)  # fmt: skip
    adapt_model(
        base.folder, site.dataset, site_models_dir(config.data_dir) / "site-b", model_id="site-b"
    )
    db = storage.open_store(site.store)
    try:
        before = {
            row["id"]: row["model_id"] for row in db.query("SELECT id, model_id FROM analyses")
        }
        change = use_model(db, "site-b", data_dir=config.data_dir,
                           models_root=config.models_dir, user="site admin")  # fmt: skip
        assert (change.previous, change.current) == (SHIPPED, "site-b")
        assert active_model_id(config.data_dir) == "site-b"
        assert AppConfig.default().model_id == "site-b"
        back = roll_back(db, data_dir=config.data_dir, models_root=config.models_dir)
        assert back.current == SHIPPED and active_model_id(config.data_dir) == SHIPPED
        after = {
            row["id"]: row["model_id"] for row in db.query("SELECT id, model_id FROM analyses")
        }
        assert after == before
        switches = [
            e for e in storage.audit_entries(db) if e.action is storage.AuditAction.MODEL_SWITCHED
        ]
        assert [(e.details["from"], e.details["to"]) for e in switches] == [
            (SHIPPED, "site-b"),
            ("site-b", SHIPPED),
        ]
        assert switches[1].details["rollback"] is True
    finally:
        db.close()


def test_cli_adapt_then_models_use_and_rollback(
    site: SimulatedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    from mscc_desktop.cli import main

    result_file = site.store.parent / "adapt.json"
    code = main(["adapt", "--data", str(site.dataset), "--id", "site-cli", "--json-progress",
                 "--json", str(result_file), "--user", "site admin"])  # fmt: skip
    out = capsys.readouterr()
    assert code in (0, 4), out.err
    steps = [json.loads(line) for line in out.err.splitlines() if line.startswith("{")]
    assert steps and steps[-1]["progress"] == 1.0
    saved = json.loads(result_file.read_text())
    assert saved["model_id"] == "site-cli" and saved["offered"] is (code == 0)
    assert set(saved["base"]) == set(saved["adapted"]) >= {"high_grade_image_sensitivity"}
    assert "held-out figure" in out.out and "high-grade sensitivity (image)" in out.out
    config = AppConfig.default()
    assert (site_models_dir(config.data_dir) / "site-cli" / "manifest.json").is_file()
    assert main(["models"]) == 0
    assert "site-cli" in capsys.readouterr().out
    assert main(["models", "--use", "site-cli", "--db", str(site.store)]) == 0
    assert "New analyses now use site-cli" in capsys.readouterr().out
    assert main(["models", "--rollback", "--db", str(site.store)]) == 0
    assert f"New analyses now use {SHIPPED}" in capsys.readouterr().out
    assert main(["models", "--rollback", "--db", str(site.store)]) == 1  # nothing earlier
    assert "no earlier model" in capsys.readouterr().err
