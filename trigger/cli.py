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


def cmd_data_spec(args) -> int:
    from trigger.data.dataset import data_files

    for spec in map(resolve_spec, args.specs):
        files = data_files(spec, scheduler=args.scheduler)
        print(f"{spec.name}: {len(files)} ROOT file(s) ready under {files[0].parent if files else '-'}")
    return 0


def cmd_data_generator(args) -> int:
    import yaml

    from trigger.data.generate import data_root, generate
    from trigger.spec import generator_settings

    settings = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise TriggerError(f"--set {item!r}: use KEY=VALUE (e.g. --set mpi=false)")
        settings[key] = yaml.safe_load(value)
    for key in ("events", "chunk_events", "workers"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    cfg = generator_settings(args.generator, settings, f"trigger data {args.generator}")
    root = Path(args.out) if args.out else data_root()
    files = generate(cfg, args.seed, root=root, scheduler=args.scheduler)
    print(f"{args.generator}: {len(files)} chunk file(s) in {files[0].parent}; card: {files[0].parent / 'card.md'}")
    return 0


def cmd_train(args) -> int:
    from trigger.train import train

    for spec in map(resolve_spec, args.specs):
        result = train(spec)
        print(f"{spec.name}: {result.summary} -> {result.directory}")
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


GENERATOR_HELP = {
    "jets": "boosted jets (q, g, W, Z, t) with the 16 hls4ml substructure features",
    "ttbar": "semileptonic ttbar at reco level, with truth tops, W and neutrino",
    "anomaly": "ADC2021-like SM background mixture + four BSM signals (57 inputs)",
    "toy": "numpy toy t -> b W -> b l nu decays of boosted tops",
}


def _data_parser(sub) -> None:
    data = sub.add_parser("data", help="generate datasets (Pythia8 on Dask) or locate a spec's data",
                          description="Generate a dataset into <data root>/<generator>-<key>/ (one ROOT file per "
                                      "chunk, a card.md with plots), resuming whatever a killed run left out.")
    kinds = data.add_subparsers(dest="generator", required=True)
    for name, help_ in GENERATOR_HELP.items():
        p = kinds.add_parser(name, help=help_, description=f"{help_}. Defaults: trigger/spec.py ({name} settings).")
        p.add_argument("--events", type=int, help="events per process (jets: per class; anomaly: per background process, see --set signal_events=N)")
        p.add_argument("--chunk-events", type=int, help="events per chunk file")
        p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other setting, e.g. --set mpi=false")
        p.add_argument("--out", help="data root directory (default: $TRIGGER_DATA or ./data)")
        p.add_argument("--workers", type=int, help="LocalCluster workers (default: one per core)")
        p.add_argument("--scheduler", help="use an existing Dask cluster, e.g. tcp://host:8786")
        p.set_defaults(func=cmd_data_generator)
    p = kinds.add_parser("spec", help="the datasets named by model specs", description="Generate (or find) the data of each spec.")
    p.add_argument("specs", nargs="+", help="models/<name>/spec.yml, a model directory, or a model name")
    p.add_argument("--scheduler", help="use an existing Dask cluster, e.g. tcp://host:8786")
    p.set_defaults(func=cmd_data_spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trigger", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    _data_parser(sub)
    for name, func, help_ in (
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
