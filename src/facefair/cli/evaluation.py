"""``facefair evaluate``, ``metrics``, ``table``, ``select``, ``report``, ``explain``, ``robustness``, ``audit``:
measuring and showing trained runs (``metrics`` and ``table`` need no torch)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import parse_kv


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="predict a split with a run's best weights; write metrics")
    p.add_argument("run", help="run folder")
    p.add_argument("--split", default=None, choices=("train", "val", "test", "all"),
                   help="the images scored (default: test; with --on, all: every image of a dataset the model "
                        "never saw)")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates for intervals (0 = none)")
    p.add_argument("--method-opt", action="append", metavar="KEY=VALUE",
                   help="override a method option for this evaluation, e.g. inference=raw (FineFACE); "
                        "outputs get a tag: metrics-inference-raw.json")
    x = p.add_argument_group("cross-dataset evaluation (FineFACE Table 3): the run's model on another dataset")
    x.add_argument("--on", metavar="DATASET", help="evaluate on this dataset instead (celeba, utkface, fairface, "
                                                  "manifest); writes metrics-on-DATASET.json")
    x.add_argument("--root", help="the other dataset's folder (its official layout)")
    x.add_argument("--manifest", help="with --on manifest: the CSV manifest (image column + label columns)")
    x.add_argument("--target", help="its target attribute (default: the run's target name)")
    x.add_argument("--protected", help="its protected attribute (default: the run's)")
    x.add_argument("--positive", help="its target class meaning the model's positive class "
                                      "(default: the class of the same name)")
    x.add_argument("--name", help="file tag instead of on-DATASET")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("robustness", help="ASAC noise vs M's decisions, before and after fine-tuning")
    p.add_argument("run", help="an ASAC run folder")
    p.add_argument("--base", default=None, help="the model before fine-tuning (default: the run's --from)")
    p.add_argument("--eps", default=None, help="comma list (default 0,0.001,0.003,0.01,0.02,0.03,0.05)")
    p.add_argument("--n", type=int, default=512, help="test images (seeded subset)")
    p.add_argument("--attack", default="fgsm", choices=("fgsm", "pgd"))
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("explain", help="attribution pictures (Integrated Gradients, CAMs) of a run's images, "
                                       "optionally beside another run")
    p.add_argument("run", help="run folder")
    p.add_argument("--method", default="cam", choices=("ig", "cam", "ablation"),
                   help="ig: Integrated Gradients of the explained logit (Captum); cam: FineFACE's per-expert "
                        "and overall maps, Grad-CAM for other models; ablation: the logit's change when each "
                        "patch of an 8 x 8 grid is greyed out (forward passes only)")
    p.add_argument("--compare", default=None, metavar="RUN",
                   help="a reference run drawn first in each row (e.g. the model before mitigation)")
    p.add_argument("--class", dest="explain_class", default="positive", choices=("positive", "pred", "true"),
                   help="whose logit: the attribute present (e.g. Smiling), the prediction, or the true label")
    p.add_argument("--ids", default=None, help="comma-separated image ids (default: a seeded sample)")
    p.add_argument("--n", type=int, default=6, help="images to sample when --ids is not given")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=32, help="IG: interpolation steps")
    p.add_argument("--baseline", default=None, choices=("black", "gray", "white"),
                   help="IG's baseline image (default black), ablation's patch fill (default gray)")
    p.add_argument("--batch-size", type=int, default=16, help="images per pass")
    p.add_argument("--internal-batch-size", type=int, default=64,
                   help="IG: interpolated images per forward/backward; bounds memory")
    p.add_argument("--out", default=None, help="output folder (default RUN/explain)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("regions", help="where in the face a run's model finds its evidence, per group: the share "
                                       "of attribution per face region with bootstrap intervals")
    p.add_argument("run", help="run folder")
    p.add_argument("--n", type=int, default=300, help="images (a seeded sample of the split)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--method", default="ig", choices=("ig", "ablation"),
                   help="ig: Integrated Gradients; ablation: patch ablation (forward passes only)")
    p.add_argument("--steps", type=int, default=32, help="IG: interpolation steps")
    p.add_argument("--class", dest="explain_class", default="positive", choices=("positive", "pred", "true"))
    p.add_argument("--landmarks-template", default=None, metavar="FILE.json",
                   help='five landmarks for every image: {"frame": [W, H], "points": [[x, y] x 5]} (default: '
                        "the dataset's own landmarks, or CelebA's alignment template)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates over images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default RUN/regions)")
    p.set_defaults(func=cmd_regions)

    p = sub.add_parser("report", help="one self-contained HTML page of runs: metrics with intervals, the papers' "
                                      "tables, per-group charts, trade-off, robustness, explanations")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="evaluated run folders, or LABEL=GLOB for the seeds of one setting; ::FILE after either "
                        "reads another evaluation (a cross-dataset metrics-on-utkface.json)")
    p.add_argument("--out", default="report.html", help="the HTML file to write")
    p.add_argument("--title", default="facefair report")
    p.add_argument("--base", metavar="LABEL", help="the setting the others are compared with (default: the first "
                                                   "of each task)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("audit", help="audit a model facefair did not train: predictions, every metric with "
                                     "intervals, per-group tables, IG and Grad-CAM pictures, the HTML report")
    m = p.add_argument_group("the model (one of)")
    m.add_argument("--model", metavar="FILE",
                   help="a TorchScript (torch.jit.save), torch.export (.pt2, torch.export.save) or ONNX model; "
                        "the format is read from the content (ONNX needs pip install 'facefair[onnx]')")
    m.add_argument("--model-factory", metavar="MODULE:FUNCTION",
                   help="a function returning the nn.Module (importable from here or PYTHONPATH); with --weights")
    m.add_argument("--weights", metavar="FILE", help="the factory model's state_dict (loaded weights_only)")
    m.add_argument("--input-size", type=int, required=True, metavar="PX", help="the side in pixels the model takes")
    m.add_argument("--normalize", required=True, metavar="NAME",
                   help="the model's input normalisation: imagenet, none ([0, 1] pixels) or MEAN/STD "
                        "(e.g. 0.5,0.5,0.5/0.5,0.5,0.5)")
    m.add_argument("--output", type=int, metavar="K", help="the target's column of a multi-output head (sigmoid); "
                                                          "default: two logits, or one logit (sigmoid)")
    d = p.add_argument_group("the data")
    d.add_argument("--dataset", required=True, help="celeba, fairface, utkface or manifest")
    d.add_argument("--root", help="the dataset's folder, in its official layout")
    d.add_argument("--manifest", help="with --dataset manifest: the CSV manifest")
    d.add_argument("--target", required=True, help="the attribute the model predicts")
    d.add_argument("--protected", required=True, help="the protected attribute")
    d.add_argument("--positive", help="the dataset's class the model's positive output means (default: the second)")
    d.add_argument("--split", default="all", help="all (every image, the default), train, val or test")
    p.add_argument("--regions", type=int, default=0, metavar="N",
                   help="sum the attributions of N images per face region and compare groups (0: none)")
    p.add_argument("--landmarks-template", default=None, metavar="FILE.json",
                   help='five landmarks for every image, {"frame": [W, H], "points": [[x, y] x 5]}, for --regions')
    p.add_argument("--out", required=True, help="the audit folder (made; report.html is written inside)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates for intervals")
    p.add_argument("--explain", type=int, default=6, metavar="N", help="images drawn with IG and Grad-CAM (0: none)")
    p.add_argument("--ig-steps", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--title", help="the report's title")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("select", help="choose among runs and settings on validation metrics only; report the "
                                      "choice's test metrics and how often another seed would choose otherwise")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="LABEL=GLOB for the seeds of one setting, or run folders and globs (each its own candidate)")
    p.add_argument("--constraint", action="append", metavar="METRIC<=X",
                   help='a validation bound, e.g. "equalized_odds_mean<=0.03" (repeatable)')
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--maximize", default="accuracy", metavar="METRIC", help="the validation metric to maximise")
    goal.add_argument("--minimize", metavar="METRIC", help="a validation metric to minimise instead")
    p.add_argument("--pareto", action="store_true",
                   help="also list the validation Pareto front of the objective against the first constraint's metric")
    p.add_argument("--json", metavar="FILE", help="also write the choice and every candidate's figures as JSON")
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("metrics", help="every fairness metric from a predictions CSV (no model, no torch)")
    p.add_argument("csv", help="CSV with columns y, group, pred (and optional score, id)")
    p.add_argument("--group-col", action="append", default=None,
                   help="group column(s); several are intersected (default 'group')")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="N bootstrap replicates for confidence intervals")
    p.add_argument("--ci", type=float, default=0.95, help="interval level")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--percent", action="store_true", help="print percentages (FineFACE style)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("table", help="tables over evaluated runs: LABEL=GLOB of run folders")
    p.add_argument("rows", nargs="+", metavar="LABEL=GLOB", help='e.g. "Base=runs/base-s*"')
    p.add_argument("--layout", default="seeds", choices=("seeds", "asac", "groups", "attributes"),
                   help="seeds: mean ± sd of every metric (ASAC Table 1 order); asac: ASAC Table 1 per target; "
                        "groups: per-group accuracy, Max/Min, Overall, DoB (FineFACE Table 2); attributes: means "
                        "over target attributes (FineFACE Tables 6-8)")
    p.add_argument("--base", metavar="LABEL", help="compare every other row with this one (default: the first "
                                                   "row): paired differences with intervals and levelling verdicts")
    p.add_argument("--no-compare", action="store_true", help="the table alone, no comparison below it")
    p.set_defaults(func=cmd_table)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation import cross_tag, evaluate, evaluate_on, options_tag, output_names

    options = parse_kv(args.method_opt, "--method-opt")
    tag = options_tag(options)
    args.split = args.split or ("all" if args.on else "test")
    if args.split == "all" and not args.on:
        raise ConfigError("--split all scores every image, training ones included; it is for --on DATASET")
    if args.on:
        report = evaluate_on(args.run, args.on, args.root, args.target, args.protected, args.positive, args.split,
                             {"manifest": args.manifest} if args.manifest else None, args.name, args.checkpoint,
                             n_boot=args.bootstrap, progress=not args.no_progress, method_options=options)
        tag = cross_tag(args.on, args.name, options)
    else:
        stray = [f"--{k}" for k in ("root", "manifest", "target", "protected", "positive", "name") if getattr(args, k)]
        if stray:
            raise ConfigError(f"{', '.join(stray)} only apply with --on DATASET")
        report = evaluate(args.run, args.split, args.checkpoint, n_boot=args.bootstrap,
                          progress=not args.no_progress, method_options=options)
    print(report.format_table())
    pred_name, metrics_name = output_names(args.split, tag, cross=bool(args.on))
    print(f"wrote {Path(args.run) / metrics_name} and {Path(args.run) / pred_name}")
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    from ..analysis.robustness import robustness

    eps = [float(e) for e in args.eps.split(",")] if args.eps else None
    doc = robustness(args.run, args.base, **({"eps": eps} if eps else {}), n=args.n, attack=args.attack,
                     seed=args.seed)
    print(f"{'eps':>8}  {'P(y) before':>11}  {'P(y) after':>10}  {'flip before':>11}  {'flip after':>10}  {'C flip':>7}")
    for j, e in enumerate(doc["eps"]):
        print(f"{e:>8.4f}  {doc['before']['p_true'][j]:>11.4f}  {doc['after']['p_true'][j]:>10.4f}  "
              f"{doc['before']['flip'][j]:>11.4f}  {doc['after']['flip'][j]:>10.4f}  {doc['classifier_flip'][j]:>7.4f}")
    print(f"wrote {Path(args.run) / 'robustness.json'} and robustness.png")
    return 0


def cmd_regions(args: argparse.Namespace) -> int:
    from ..analysis.regions import regions_run
    from ..runfolder import RunFolder

    doc = regions_run(args.run, args.n, args.split, args.method, args.seed, args.out, args.landmarks_template,
                      args.bootstrap, explain_class=args.explain_class,
                      **({"steps": args.steps} if args.method == "ig" else {}))
    print(doc["summary"])
    doc_file = Path(args.out) / RunFolder.REGIONS_DOC if args.out else RunFolder(args.run).regions_file
    print(f"wrote {doc_file} and regions.png")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from ..explain import explain_run

    ids = [i for i in args.ids.split(",") if i] if args.ids else None
    opts: dict[str, Any] = {"ig": {"steps": args.steps, "baseline": args.baseline or "black",
                                   "internal_batch_size": args.internal_batch_size},
                            "ablation": {"baseline": args.baseline or "gray"}}.get(args.method, {})
    png = explain_run(args.run, args.method, compare=args.compare, ids=ids, n=args.n, split=args.split,
                      seed=args.seed, out=args.out, batch_size=args.batch_size, explain_class=args.explain_class,
                      **opts)
    print(f"wrote {png} and {png.with_suffix('.json')}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..report.html import write_report

    path = write_report(args.runs, args.out, args.title, base=args.base)
    print(f"wrote {path}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from ..metrics import fairness_report, read_predictions

    cols = [c for item in (args.group_col or ["group"]) for c in item.split(",") if c]
    preds = read_predictions(args.csv, cols)
    report = fairness_report(preds.y, preds.pred, preds.group, n_boot=args.bootstrap,
                             ci_level=args.ci, seed=args.seed, source=args.csv, score=preds.score)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_table(percent=args.percent))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from ..report.paper_tables import LAYOUTS
    from ..report.tables import parse_rows

    layout = LAYOUTS[args.layout]
    rows = parse_rows(args.rows)
    print(layout(rows), end="")
    if args.base and args.no_compare:
        raise ConfigError("--base names the row to compare with; it does nothing with --no-compare")
    if not args.no_compare and len(rows) > 1:
        from ..report.comparisons import compare_rows, comparison_markdown

        print()
        print(comparison_markdown(compare_rows(rows, args.base)), end="")
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from ..atomic import json_safe, write_json
    from ..selection import select

    sel = select(args.runs, args.constraint, args.maximize, args.minimize, args.pareto)
    print(sel.to_text(), end="")
    if args.json:
        write_json(args.json, json_safe(sel.to_dict()))
        print(f"wrote {args.json}")
    return 0 if sel.chosen is not None else 1


def cmd_audit(args: argparse.Namespace) -> int:
    from ..auditing import audit

    report = audit(args.out, args.dataset, args.root, args.target, args.protected, args.model, args.model_factory,
                   args.weights, args.input_size, args.normalize, args.output, args.positive, args.split,
                   {"manifest": args.manifest} if args.manifest else None, args.batch_size, args.bootstrap,
                   args.explain, args.ig_steps, not args.no_progress, args.title, args.regions,
                   args.landmarks_template)
    print(report.format_table())
    print(f"wrote {Path(args.out) / 'report.html'} and MODEL_CARD.md (metrics.json, predictions.csv, audit.json, "
          "explain/" + (", regions/" if args.regions else "") + ")")
    return 0
