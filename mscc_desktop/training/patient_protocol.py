"""The leave-patients-out protocol: train per fold from phantom-trained networks, answer
held-out patients, choose thresholds on calibration patients, report across seeds.

For each fold (:func:`mscc_desktop.evaluation.patient_folds.make_folds`):

1. link folders of study folders for each role: the grader's training set (phantom studies
   plus every study, disease-free, inserted and small-field, of the fold's training
   patients), the detector's (fewer phantoms and variants: it costs 8× more per slice), the
   calibration patients' and the test patients' studies; :func:`~mscc_desktop.evaluation.
   patient_folds.check_fold` refuses any patient in two roles;
2. fine-tune the phantom-trained detector once, and the phantom-trained grader once per
   seed (``mscc-desktop train ... --init-checkpoint``);
3. export each (detector, grader) pair and run it through the app's pipeline on the
   calibration and the test studies (predictions cached in the fold's folder).

Then, per seed and fold, a probability temperature and the thresholds are fitted on the
calibration patients' answers only (the operating point: the most specific P(high)
threshold with >= ``min_sensitivity`` per-image sensitivity there), applied to the test
patients' answers, and the folds' test answers are pooled into one seed's figures
(:func:`mscc_desktop.evaluation.real_ct_protocol.protocol_figures`). Every step is skipped
when its output exists, so an interrupted protocol resumes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mscc_desktop.core.labels import read_study_json
from mscc_desktop.evaluation.calibration import fit_temperature
from mscc_desktop.evaluation.patient_folds import (
    PHANTOM,
    PatientFold,
    check_fold,
    make_folds,
    study_patient,
)
from mscc_desktop.evaluation.real_ct_protocol import SliceAnswers, across_seeds, protocol_figures
from mscc_desktop.training.acceptance import (
    Predictions,
    called_groups,
    choose_thresholds,
    collect_predictions,
    load_predictions,
    save_predictions,
)
from mscc_desktop.training.metrics import box_iou
from mscc_desktop.training.study_reader import find_studies
from mscc_desktop.training.timing import Clock

logger = logging.getLogger(__name__)

# The twelve real patients of ../shared/data in four groups of similar size (slices), each
# mixing vendors and body regions, so every fold trains on several scanners.
DEFAULT_PATIENT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("CCTH-A01", "A002304"),
    ("thorax_philips_j2k", "CRLM-CT-1004", "A027284", "A046441"),
    ("LIDC-IDRI-0314", "CRLM-CT-1006", "A048383"),
    ("Lung_Dx-A0001", "Lung_Dx-A0002", "A056642"),
)


@dataclass(frozen=True, slots=True)
class ProtocolSettings:
    """Where the protocol reads and writes, and how much it trains."""

    work: Path
    phantom_train: Path  # phantom training studies (the base networks' data)
    real_studies: Path  # every real patient's studies (``synth --on-real``)
    base_detector: Path  # phantom-trained checkpoints to fine-tune
    base_grader: Path
    groups: tuple[tuple[str, ...], ...] = DEFAULT_PATIENT_GROUPS
    seeds: tuple[int, ...] = (1, 2, 3)
    config: str = "compact"
    grader_epochs: int = 8
    detector_epochs: int = 3
    # Fine-tuning from trained networks: half (grader) and a quarter (detector) of the
    # from-scratch learning rates.
    grader_lr: float = 0.001
    detector_lr: float = 0.005
    grader_phantom_studies: int = 20
    detector_phantom_studies: int = 10
    detector_real_variants: int = 1  # diseased variants per series the detector sees
    min_sensitivity: float = 0.95
    lowest_high: float = 0.0  # no floor under the operating point's cut-off (issue 20)
    threads: int = 2
    grader_overrides: tuple[str, ...] = ()  # --set KEY=VALUE for the fine-tuned grader
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StudyInfo:
    folder: Path
    patient: str
    series: str
    variant: int
    small_fov: bool
    anatomy: str  # the same for the other reconstructions (kernels) of the same slices
    source: str  # the source series, relative to the real data folder


def study_info(folder: Path) -> StudyInfo:
    """Patient, series, variant and field of a real study folder (from its study.json)."""
    extra = read_study_json(folder / "study.json").extra
    return StudyInfo(
        folder,
        study_patient(folder),
        str(extra.get("real_series", folder.name)),
        int(extra.get("variant", 0)),
        bool(extra.get("small_fov_mm")),
        str(extra.get("anatomy", folder.name)),
        str(extra.get("source", "")),
    )


def _link_dir(target: Path, folders: Sequence[Path]) -> Path:
    """``target`` holding one link per study folder (rebuilt every time)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for folder in folders:
        (target / folder.name).symlink_to(folder.resolve(), target_is_directory=True)
    return target


def _describe(
    folder: Path, phantoms: Sequence[Path], real: Sequence[StudyInfo], s: ProtocolSettings
) -> None:
    """The ``dataset.json`` of a training link folder: what the exported manifest records as
    its training data (phantoms, and which real patients with inserted disease)."""
    phantom_info: dict[str, Any] = {}
    source = s.phantom_train / "dataset.json"
    if source.is_file():
        phantom_info = json.loads(source.read_text(encoding="utf-8"))
    patients = sorted({i.patient for i in real})
    variants = max((i.variant for i in real), default=0)
    description = (
        f"{len(phantoms)} synthetic phantom studies ({phantom_info.get('generator', 'synth')} "
        f"{phantom_info.get('generator_version', '')}, seed "
        f"{','.join(str(x) for x in phantom_info.get('seeds', []))}) and the disease-free CT "
        f"of {len(patients)} real patients ({', '.join(patients)}), each series unchanged and "
        f"with up to {variants} variants carrying epidural disease inserted by software, "
        "plus small-field reconstructions; no real patient with epidural disease."
    )
    info = {
        "synthetic": False,
        "description": description,
        "generator": phantom_info.get("generator", ""),
        "generator_version": phantom_info.get("generator_version", ""),
        "seeds": phantom_info.get("seeds", []),
        "real_patients": patients,
        "n_phantom_studies": len(phantoms),
        "n_real_studies": len(real),
    }
    (folder / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mscc_desktop", *args]


def _call(cmd: list[str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        handle.write(("\n$ " + " ".join(cmd) + "\n").encode())
        handle.flush()
        result = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}), see {log}: {' '.join(cmd)}")


class Protocol:
    """One protocol run over ``settings.work`` (see the module docstring)."""

    def __init__(self, settings: ProtocolSettings) -> None:
        self.s = settings
        self.folds = make_folds(settings.groups)
        self.real = [study_info(f) for f in find_studies(settings.real_studies)]
        self.phantoms = find_studies(settings.phantom_train)
        # The ledger keeps each step's cost across interrupted and resumed runs.
        self.clock = Clock(ledger=settings.work / "steps.json")
        known = {p for g in settings.groups for p in g}
        unknown = sorted({i.patient for i in self.real} - known - {PHANTOM})
        if unknown:
            raise ValueError(f"real studies of patients in no group: {', '.join(unknown)}")

    # ------------------------------------------------------------------ data per fold
    def _studies(self, fold: PatientFold, role: str) -> list[StudyInfo]:
        return [i for i in self.real if fold.role(i.patient) == role]

    def _fold_dir(self, fold: PatientFold) -> Path:
        return self.s.work / f"fold{fold.index}"

    def prepare(self, fold: PatientFold) -> dict[str, Path]:
        """The fold's link folders, checked for leaks."""
        base = self._fold_dir(fold)
        train = self._studies(fold, "train")
        rng = np.random.default_rng(fold.index % 1000)  # the final model's "fold" is -1
        phantoms = sorted(self.phantoms)
        grader_ph = [phantoms[i] for i in sorted(rng.permutation(len(phantoms))
                                                  [: self.s.grader_phantom_studies])]  # fmt: skip
        detector_ph = grader_ph[: self.s.detector_phantom_studies]
        detector_real = [i for i in train if i.variant <= self.s.detector_real_variants]
        dirs = {
            "grader_train": _link_dir(base / "grader_train", grader_ph + [i.folder for i in train]),
            "detector_train": _link_dir(
                base / "detector_train", detector_ph + [i.folder for i in detector_real]
            ),
            "calibration": _link_dir(
                base / "calibration", [i.folder for i in self._studies(fold, "calibration")]
            ),
            "test": _link_dir(base / "test", [i.folder for i in self._studies(fold, "test")]),
        }
        for key, phantom_list, real_list in (
            ("grader_train", grader_ph, train),
            ("detector_train", detector_ph, detector_real),
        ):
            _describe(dirs[key], phantom_list, real_list, self.s)
        check_fold(
            fold,
            train=find_studies(dirs["grader_train"]) + find_studies(dirs["detector_train"]),
            calibration=find_studies(dirs["calibration"]),
            test=find_studies(dirs["test"]),
        )
        return dirs

    # ------------------------------------------------------------------ training
    def train_detector(self, fold: PatientFold, dirs: dict[str, Path]) -> Path:
        out = self._fold_dir(fold) / "runs" / "detector"
        if not (out / "summary.json").exists():
            cmd = _cli("train", "detector", "--data", str(dirs["detector_train"]),
                       "--config", self.s.config, "--out", str(out), "--seed", "0",
                       "--epochs", str(self.s.detector_epochs), "--init-checkpoint",
                       str(self.s.base_detector), "--lr", str(self.s.detector_lr),
                       "--no-progress",
                       "--threads", str(self.s.threads))  # fmt: skip
            self.clock.run(
                f"fold{fold.index} detector", lambda: _call(cmd, out.parent / "detector.log")
            )
        return out / "best.pt"

    def train_grader(self, fold: PatientFold, dirs: dict[str, Path], seed: int) -> Path:
        out = self._fold_dir(fold) / "runs" / f"grader_seed{seed}"
        if not (out / "summary.json").exists():
            cmd = _cli("train", "grader", "--data", str(dirs["grader_train"]),
                       "--config", self.s.config, "--out", str(out), "--seed", str(seed),
                       "--epochs", str(self.s.grader_epochs), "--init-checkpoint",
                       str(self.s.base_grader), "--lr", str(self.s.grader_lr), "--no-progress",
                       "--threads", str(self.s.threads))  # fmt: skip
            for item in self.s.grader_overrides:
                cmd += ["--set", item]
            self.clock.run(
                f"fold{fold.index} grader seed {seed}",
                lambda: _call(cmd, out.parent / f"grader_seed{seed}.log"),
            )
        return out / "best.pt"

    def export(self, fold: PatientFold, detector: Path, grader: Path, seed: int) -> Path:
        out = self._fold_dir(fold) / f"model_seed{seed}"
        if not (out / "manifest.json").exists():
            cmd = _cli("export", "--detector", str(detector), "--grader", str(grader),
                       "--out", str(out), "--id", out.name, "--fp16-weights")  # fmt: skip
            self.clock.run(
                f"fold{fold.index} export seed {seed}",
                lambda: _call(cmd, self._fold_dir(fold) / "export.log"),
            )
        return out

    def predict(self, fold: PatientFold, model: Path, role: str, seed: int) -> Predictions:
        path = self._fold_dir(fold) / f"predictions_{role}_seed{seed}.npz"
        if not path.exists():
            folders = find_studies(self._fold_dir(fold) / role)

            def run() -> None:
                save_predictions(collect_predictions(model, folders), path)

            self.clock.run(f"fold{fold.index} predict {role} seed {seed}", run)
        return load_predictions(path)

    # ------------------------------------------------------------------ figures
    def answers(
        self, test: Predictions, calibration: Predictions
    ) -> tuple[SliceAnswers, dict[str, Any]]:
        """Test answers at the operating point chosen on the calibration answers."""
        graded = (
            (calibration.truth_group >= 0)
            & np.isfinite(calibration.probabilities).all(axis=1)
            & (calibration.score > 0)
        )
        temperature = fit_temperature(
            calibration.probabilities[graded], calibration.truth_group[graded]
        ).temperature
        cal = calibration.calibrated(temperature)
        thresholds = choose_thresholds(
            cal, min_sensitivity=self.s.min_sensitivity, lowest_high=self.s.lowest_high
        )
        tested = test.calibrated(temperature)
        called = called_groups(tested, thresholds)
        info = {self._study_key(name): self._info_of(name) for name in tested.study_names}
        names = np.asarray(tested.study_names)[tested.study]
        infos = [info[self._study_key(n)] for n in names]
        iou = box_iou(tested.box, np.nan_to_num(tested.truth_box))
        iou = np.where(tested.score >= thresholds.canal_score, iou, 0.0)
        answers = SliceAnswers(
            study=names.astype(str),
            patient=np.asarray([i.patient for i in infos]),
            disease_free=np.asarray([i.variant == 0 for i in infos]),
            small_fov=np.asarray([i.small_fov for i in infos]),
            truth=tested.truth_group.copy(),
            called=called,
            iou=iou,
            p_high=np.nan_to_num(tested.probabilities[:, 2]),
            series=np.asarray([i.series for i in infos]),
            pair_key=np.asarray(
                [
                    f"{i.anatomy}/v{i.variant}/{s}"
                    for i, s in zip(infos, tested.slice_index, strict=True)
                ]
            ),
        )
        operating = {
            "temperature": round(float(temperature), 4),
            "thresholds": {
                "high": thresholds.high,
                "any_mscc": thresholds.any_mscc,
                "canal_score": thresholds.canal_score,
            },
        }
        return answers, operating

    @staticmethod
    def _study_key(name: str) -> str:
        return name

    def _info_of(self, name: str) -> StudyInfo:
        for info in self.real:
            if info.folder.name == name:
                return info
        raise KeyError(name)

    # ------------------------------------------------------------------ the whole run
    def run(self) -> dict[str, Any]:
        per_seed_answers: dict[int, list[SliceAnswers]] = {s: [] for s in self.s.seeds}
        operating: dict[str, Any] = {}
        for fold in self.folds:
            dirs = self.prepare(fold)
            detector = self.train_detector(fold, dirs)
            for seed in self.s.seeds:
                grader = self.train_grader(fold, dirs, seed)
                model = self.export(fold, detector, grader, seed)
                calibration = self.predict(fold, model, "calibration", seed)
                test = self.predict(fold, model, "test", seed)
                answers, point = self.answers(test, calibration)
                per_seed_answers[seed].append(answers)
                operating[f"fold{fold.index}_seed{seed}"] = point
        per_seed = {
            f"seed{seed}": protocol_figures(SliceAnswers.concatenate(parts))
            for seed, parts in per_seed_answers.items()
        }
        result = {
            "summary": across_seeds(per_seed),
            "per_seed": per_seed,
            "operating_points": operating,
            "folds": [asdict(f) for f in self.folds],
            "settings": {
                k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.s).items()
            },
            "cost": {
                "total": self.clock.totals(),
                "steps": self.clock.steps(),
                "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
            },
        }
        (self.s.work / "protocol.json").write_text(json.dumps(result, indent=2) + "\n")
        return result
