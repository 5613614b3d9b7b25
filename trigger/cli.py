"""`trigger VERB SPEC...`: thin wrappers over the stages; user mistakes become one-line errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trigger.errors import TriggerError


def resolve_spec(arg: str):
    from trigger.spec import load_spec

    path = Path(arg)
    if not path.exists() and not path.suffix and "/" not in arg:
        path = Path("models") / arg  # a bare model name
    return load_spec(path)


def cmd_data(args) -> int:
    from trigger.data.dataset import data_files

    for spec in map(resolve_spec, args.specs):
        files = data_files(spec)
        print(f"{spec.name}: {len(files)} ROOT file(s) ready under {files[0].parent if files else '-'}")
    return 0


def cmd_train(args) -> int:
    from trigger.train import train

    for spec in map(resolve_spec, args.specs):
        result = train(spec)
        print(f"{spec.name}: test accuracy float {result.float_accuracy:.4f}, quantized+pruned "
              f"{result.quantized_accuracy:.4f} (sparsity {result.sparsity:.2f}) -> {result.directory}")
    return 0


def cmd_synth(args) -> int:
    from trigger.summary import table
    from trigger.verify.harness import verify

    reports = []
    for spec in map(resolve_spec, args.specs):
        print(f"== {spec.name}")
        reports.append(verify(spec, backends=args.backend or None))
    print()
    print(table(reports))
    inexact = [r["model"] for r in reports for b in r["backends"].values() if b["csim"]["exact_fraction"] < 1.0]
    if inexact:
        print(f"error: csim is not bit-exact for {', '.join(sorted(set(inexact)))}; see first_diverging_layer in metrics.json",
              file=sys.stderr)
        return 1
    return 0


def cmd_check(args) -> int:
    from trigger import budget
    from trigger.verify.harness import load_metrics

    status = 0
    for arg in args.models:
        spec = resolve_spec(arg)
        report = load_metrics(spec.model_dir)
        limits = budget.load_budget(spec.model_dir / "budget.yml")
        for backend, b in report["backends"].items():
            verdict = budget.evaluate(b["figures"], b["metric_drops"], limits)
            problems = budget.failures(verdict)
            if b["csim"]["exact_fraction"] < 1.0:
                problems.append(f"csim not bit-exact ({b['csim']['max_lsb_diff']} LSB max)")
            if problems:
                status = 1
                print(f"{spec.name}/{backend}: OVER BUDGET: " + "; ".join(problems))
            else:
                print(f"{spec.name}/{backend}: within budget")
    return status


def cmd_summary(args) -> int:
    from trigger.summary import table
    from trigger.verify.harness import load_metrics

    print(table([load_metrics(resolve_spec(m).model_dir) for m in args.models]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trigger", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    for name, func, help_ in (
        ("data", cmd_data, "generate (or locate) the ROOT data of each spec"),
        ("train", cmd_train, "quantization-aware training + pruning -> models/<name>/trained/"),
        ("synth", cmd_synth, "HLS projects + csim checks + metrics.json + summary table"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("specs", nargs="+", help="models/<name>/spec.yml, a model directory, or a model name")
        p.set_defaults(func=func)
        if name == "synth":
            p.add_argument("--backend", action="append", choices=["Vitis", "Vivado"], help="only this backend (repeatable)")
    for name, func, help_ in (
        ("check", cmd_check, "budget gate: non-zero exit when a model is over budget"),
        ("summary", cmd_summary, "print the summary table from metrics.json"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("models", nargs="+")
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TriggerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; finished outputs are complete, unfinished ones were not written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
