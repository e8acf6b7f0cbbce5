"""TF-VAEGAN's synthetic features per unseen class (``syn_num``) chosen on the validation
classes, never on test: how the demo's value is picked.

The validation problem is the one of ``tfvaegan_selection.protocol: validation``
(:func:`zsl_pipeline.methods.tfvaegan.validation.validation_dataset`): the ``val`` classes play
the unseen classes, a held-out part of each ``train`` class's images plays test_seen. For every
generator setting (``encoded_noise`` true and false) and seed, the generator is trained once on
it with the demo's settings, then the classifiers are trained for every ``syn_num`` of the grid
from that one generator (syn_num does not shape generator training). Printed: the validation
ZSL T1, u, s and H of the final classifiers (mean over seeds), and the choice by H. No test
image or label is read.

    .venv/bin/python benchmarks/syn_num_validation.py --seeds 0 1 --syn-nums 50 100 200 300 600
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from generator_spread import latest_demo_features

from zsl_pipeline.io import ZeroShotDatasetIO
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.evaluate import evaluate_tfvaegan
from zsl_pipeline.methods.tfvaegan.run import train_stage
from zsl_pipeline.methods.tfvaegan.stages import load_models
from zsl_pipeline.methods.tfvaegan.validation import validation_dataset
from zsl_pipeline.training.device import resolve_device
from zsl_pipeline.training.features import prepare_features
from zsl_pipeline.training.streams import eval_stream

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("zsl_t1", "gzsl_u", "gzsl_s", "gzsl_h")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--syn-nums", nargs="+", type=int, default=[50, 100, 200, 300, 600])
    parser.add_argument("--encoded-noise", nargs="+", choices=["true", "false"], default=["true", "false"])
    parser.add_argument("--features", type=Path, default=None, help="a zsl_dataset .npz (default: the demo's latest)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    path = args.features or latest_demo_features()
    ds = ZeroShotDatasetIO(filepath=str(path)).load()
    device = resolve_device(args.device)
    demo = yaml.safe_load((ROOT / "conf/base/parameters_tfvaegan.yml").read_text())["tfvaegan"]
    rows = []
    for noise in args.encoded_noise:
        for k in args.seeds:
            config = TFVAEGANConfig(**{**demo, "encoded_noise": noise == "true", "seed": demo["seed"] + k})
            val_ds = validation_dataset(ds, seed=config.seed)
            checkpoint, _ = train_stage(val_ds, replace(config, eval_every=config.nepoch), device, show_progress=False)
            data = prepare_features(val_ds, device)
            models, trained = load_models(checkpoint, device)
            for n in args.syn_nums:
                cfg = replace(trained, syn_num=n)
                final = evaluate_tfvaegan(models, data, cfg, eval_stream(cfg.seed, device)).final
                row = {"encoded_noise": noise, "seed": k, "syn_num": n,
                       **{key: 100 * float(getattr(final, name)) for key, name in
                          zip(KEYS, ("zsl_accuracy", "acc_unseen", "acc_seen", "harmonic_mean"))}}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\nfeatures: {path}; validation problem: {len(val_ds.seen_classes)} train classes, "
          f"{len(val_ds.unseen_classes)} val classes; seeds {args.seeds} (tfvaegan.seed = {demo['seed']} + k)\n")
    print("| encoded_noise | syn_num | val ZSL T1 | val u | val s | val H |")
    print("|---|---:|---:|---:|---:|---:|")
    for noise in args.encoded_noise:
        means = {}
        for n in args.syn_nums:
            sel = [r for r in rows if r["encoded_noise"] == noise and r["syn_num"] == n]
            means[n] = {key: float(np.mean([r[key] for r in sel])) for key in KEYS}
            print(f"| {noise} | {n} | " + " | ".join(f"{means[n][key]:.1f}" for key in KEYS) + " |")
        best = max(means, key=lambda n: means[n]["gzsl_h"])
        print(f"\nencoded_noise {noise}: syn_num {best} has the best mean validation H ({means[best]['gzsl_h']:.1f})\n")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
