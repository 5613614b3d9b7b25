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


def cmd_export(args) -> int:
    from trigger.bundle.export import export
    from trigger.firmware import project_dir, projects_root

    for spec in map(resolve_spec, args.models):
        backend = args.backend or spec.firmware.backends[0]
        print(f"== {spec.name} ({backend})")
        bundle = export(project_dir(spec, backend), projects_root() / spec.name / "bundle",
                        f"trigger synth {spec.name} && trigger export {spec.name}" + (f" --backend {backend}" if args.backend else ""))
        print(f"{spec.name}: bundle in {bundle}")
    return 0


def cmd_rtl(args) -> int:
    from trigger.rtl.flow import run
    from trigger.summary import rtl_table
    from trigger.verify.harness import load_metrics

    specs = list(map(resolve_spec, args.models))
    failed = []
    for spec in specs:
        print(f"== {spec.name}")
        report = run(spec, backend=args.backend, events=args.events)
        if not report["figures"]:
            sim = report["simulation"]
            failed.append(f"{spec.name} (first mismatch {sim['first_mismatch']}, first diverging layer "
                          f"{sim['first_diverging_layer']})")
    print()
    print(rtl_table([load_metrics(spec.model_dir) for spec in specs]))
    if failed:
        print(f"error: RTL twin not bit-exact with the csim: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_bench(args) -> int:
    from trigger.rtl.bench import bench, table

    rows = [bench(resolve_spec(m), args.events) for m in args.models]
    print()
    print(table(rows))
    return 0 if all(r["exact"] for r in rows) else 1


def cmd_rates(args) -> int:
    from trigger.verify.background_rates import REPORT, describe, run

    for arg in args.models:
        spec = resolve_spec(arg)
        print(f"== {spec.name}")
        print(describe(run(spec, [Path(f) for f in args.files] if args.files else None, args.csim_events)))
        print(f"  -> {spec.model_dir / REPORT}")
    return 0


def cmd_convert(args) -> int:
    from trigger import budget
    from trigger.convert import ConvertOptions, convert, load_hls_config, load_sample, load_user_model

    model = load_user_model(args.keras, args.json, args.weights)
    name = args.name or Path(args.keras or args.json).stem
    x, features, units = load_sample(int(model.inputs[0].shape[-1]), args.input, args.root, args.mapping)
    given = {key: getattr(args, key) for key in ("backend", "part", "clock_ns", "input_precision", "saturation", "tolerance", "events")}
    options = ConvertOptions(name=name, **{key: value for key, value in given.items() if value is not None})
    limits = budget.load_budget(args.budget) if args.budget else {}
    out = Path(args.out or Path("converted") / name)
    report = convert(model, x, features, units, options, load_hls_config(args.hls_config), limits, out,
                     "trigger " + " ".join(args.command_line))
    print(f"{name}: metrics in {out / 'metrics.json'}; "
          f"budget {'PASS' if report['budget']['pass'] else 'FAIL'}" + ("" if limits else " (no --budget given)"))
    if report["reference"] == "quantized" and report["csim"]["exact_fraction"] < 1.0:
        print(f"error: csim is not bit-exact with the quantized model (first diverging layer: "
              f"{report['csim']['first_diverging_layer']}, {report['csim']['max_lsb_diff']} LSB)", file=sys.stderr)
        return 1
    return 0 if report["budget"]["pass"] else 1


def _convert_parser(sub) -> None:
    p = sub.add_parser("convert", help="bring your own Keras/QKeras model: HLS project, csim harness, metrics.json, bundle",
                       description="Convert a dense Keras or QKeras model trained elsewhere and verify it like a shipped model.")
    model = p.add_argument_group("model (one of)")
    model.add_argument("--keras", type=Path, help="model saved with model.save (.h5 or .keras)")
    model.add_argument("--json", type=Path, help="architecture from model.to_json() (with --weights)")
    model.add_argument("--weights", type=Path, help="weights from model.save_weights (with --json)")
    sample = p.add_argument_group("input sample (one of)")
    sample.add_argument("--input", type=Path, help=".npy array (events, features) in the model's input units")
    sample.add_argument("--root", type=Path, nargs="+", help="ROOT file(s), with --mapping")
    sample.add_argument("--mapping", type=Path, help="YAML: tree + features (spec data.features syntax) [+ units]")
    p.add_argument("--hls-config", type=Path, help="hls4ml config YAML (HLSConfig block or full hls4ml project YAML)")
    p.add_argument("--budget", type=Path, help="budget YAML, as models/<name>/budget.yml")
    p.add_argument("--name", help="project name (default: the model file's stem)")
    defaults = "default: as in a model spec"
    p.add_argument("--backend", choices=["Vitis", "Vivado"], help="default Vitis")
    p.add_argument("--part", help=f"FPGA part ({defaults})")
    p.add_argument("--clock-ns", type=float, help=f"clock period ({defaults})")
    p.add_argument("--input-precision", help=f"firmware input type ({defaults}: ap_fixed<16,6>)")
    p.add_argument("--saturation", choices=["error", "clip"], help=f"inputs outside the input type ({defaults}: error)")
    p.add_argument("--tolerance", type=float, help="float models: allowed |csim - Keras| in output units (default 0.05)")
    p.add_argument("--events", type=int, help="events of the sample to run (default 6000)")
    p.add_argument("--out", help="where metrics.json goes (default converted/<name>)")
    p.set_defaults(func=cmd_convert)


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
    _convert_parser(sub)
    p = sub.add_parser("export", help="firmware integration bundle -> hls_projects/<model>/bundle/",
                       description="Bundle a synthesised model for firmware integration: HLS project with a strict "
                                   "testbench, vendor scripts, HDL wrapper, test vectors, emulator library, README.")
    p.add_argument("models", nargs="+", help="model names or spec paths (run `trigger synth` first)")
    p.add_argument("--backend", choices=["Vitis", "Vivado"], help="the project to bundle (default: the spec's first backend)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("rtl", help="RTL twin (da4ml Verilog) vs csim, cycle latency/II, yosys resources",
                       description="Build the da4ml RTL twin of each synthesised model into hls_projects/<model>/rtl/, "
                                   "simulate it with Icarus against the csim outputs (0 LSB), measure latency and II, "
                                   "synthesise it with yosys synth_xilinx; writes models/<model>/rtl.json and updates "
                                   "metrics.json (figures labelled rtl).")
    p.add_argument("models", nargs="+", help="model names or spec paths (run `trigger synth` first)")
    p.add_argument("--backend", choices=["Vitis", "Vivado"], help="the csim to compare with (default: the spec's first backend)")
    p.add_argument("--events", type=int, help="only the first N test events (default: all)")
    p.set_defaults(func=cmd_rtl)
    p = sub.add_parser("rates", help="anomaly-trigger rates on a large background sample (bit-exact emulator)",
                       description="Score every event of a background sample with the numpy emulator (checked against "
                                   "the csim on the first events), then report the threshold and signal efficiencies at "
                                   "small FPRs and the rate of the shipped trigger bit; writes background_rates.json.")
    p.add_argument("models", nargs="+")
    p.add_argument("--files", nargs="+", help="ROOT files with the spec's tree and branches (default: the held-out test split)")
    p.add_argument("--csim-events", type=int, default=2000, help="events cross-checked against the csim first (default 2000)")
    p.set_defaults(func=cmd_rates)
    p = sub.add_parser("bench", help="numpy emulator vs hls4ml csim: throughput ratio, bit-exactness",
                       description="Run the same events through hls4ml's compiled csim predict() and the numpy emulator; "
                                   "print the throughput ratio and check equality on every event.")
    p.add_argument("models", nargs="+")
    p.add_argument("--events", type=int, default=60000, help="events per model (the test sample, repeated; default 60000)")
    p.set_defaults(func=cmd_bench)
    for name, func, help_ in (
        ("check", cmd_check, "budget gate: non-zero exit when a model is over budget"),
        ("summary", cmd_summary, "print the summary table from metrics.json"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("models", nargs="+")
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    args.command_line = list(sys.argv[1:] if argv is None else argv)
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
