"""`trigger VERB SPEC...`: thin wrappers over the stages; user mistakes become one-line errors.

Each verb imports its stage when it runs (downward imports all the same), so that `trigger --help`
and `trigger data` do not load TensorFlow. A verb's docstring is its help: first line, then the
description.
"""

import argparse
import inspect
import sys
from pathlib import Path

from trigger.errors import TriggerError

BACKENDS = ["Vitis", "Vivado"]


def resolve_spec(arg: str):
    """The spec, and its budget.yml validated with it (when there is one), before any work starts."""
    from trigger.report import load_budget
    from trigger.spec import load_spec
    from trigger.tasks import task_of

    path = Path(arg)
    if not path.exists() and not path.suffix and "/" not in arg:
        path = Path("models") / arg  # a bare model name
    spec = load_spec(path)
    load_budget(spec.model_dir / "budget.yml", task_of(spec).drop_names)
    return spec


def resolve_specs(args) -> list:
    """Every named spec (and budget) checked before the first model's work."""
    return [resolve_spec(arg) for arg in args.models]


def _elsewhere(specs: list, args, *options: str) -> tuple[list, int]:
    """The specs to run in this process, and the exit code of an HGQ2 process that ran the others (0: none).

    A model whose engine needs the HGQ2 process (model.engine hgq2: Keras 3, and a `qkeras` of HGQ2's own) is never
    built here: `python -m trigger.cli <verb> <its specs> <options>` runs in an HGQ2 process (trigger/hgq2_env.py),
    its output streamed; only files cross back."""
    from trigger import hgq2_env
    from trigger.engines import engine_of

    if hgq2_env.inside():
        return specs, 0
    here = [spec for spec in specs if not engine_of(spec).hgq2_process]
    there = [str(spec.path) for spec in specs if engine_of(spec).hgq2_process]
    if not there:
        return specs, 0
    flags = []
    for name in options:  # this verb's options, as given
        value = getattr(args, name)
        for v in value if isinstance(value, list) else [] if value is None else [value]:
            flags += [f"--{name.replace('_', '-')}", str(v)]
    sys.stdout.flush()
    return here, hgq2_env.relay(["-m", "trigger.cli", args.verb, *there, *flags])


def _trained(arg: str):
    from trigger.trained import Trained

    return Trained.load(resolve_spec(arg))


def _report_dir(arg: str) -> Path:
    """A model's directory, or a `trigger convert` output directory (metrics.json without a spec)."""
    path = Path(arg)
    if (path / "metrics.json").is_file() and not (path / "spec.yml").is_file():
        return path
    return resolve_spec(arg).model_dir


def cmd_data_spec(args) -> int:
    """the datasets named by model specs: generated (or found) in the cache"""
    from trigger.data import data_files

    for spec in resolve_specs(args):
        files = data_files(spec, scheduler=args.scheduler)
        print(f"{spec.name}: {len(files)} ROOT file(s) ready under {files[0].parent if files else '-'}")
    return 0


def cmd_data_generator(args) -> int:
    import yaml

    from trigger.generators import data_root, generate
    from trigger.spec import generator_settings

    settings = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise TriggerError(f"--set {item!r}: use KEY=VALUE (e.g. --set mpi=false)")
        settings[key] = yaml.safe_load(value)
    settings |= {key: getattr(args, key) for key in ("events", "chunk_events", "workers") if getattr(args, key) is not None}
    cfg = generator_settings(args.generator, settings, f"trigger data {args.generator}")
    files = generate(cfg, args.seed, root=Path(args.out) if args.out else data_root(), scheduler=args.scheduler)
    print(f"{args.generator}: {len(files)} chunk file(s) in {files[0].parent}; card: {files[0].parent / 'card.md'}")
    return 0


def cmd_train(args) -> int:
    """quantization-aware training + pruning -> models/<name>/trained/"""
    specs, status = _elsewhere(resolve_specs(args), args)
    if status or not specs:
        return status
    from trigger.train import train

    for spec in specs:
        trained, summary = train(spec)  # logs the dataset summary first
        print(f"{spec.name}: {summary} -> {trained.directory}")
    return 0


def cmd_synth(args) -> int:
    """HLS projects + csim checks + metrics.json + summary table"""
    specs, status = _elsewhere(resolve_specs(args), args, "backend")
    if status not in (0, 1) or not specs:  # 1: a csim that is not bit-exact, reported; the others still run
        return status
    from trigger.report import table
    from trigger.synth import synth

    reports = []
    for spec in specs:
        print(f"== {spec.name}")
        reports.append(synth(spec, backends=args.backend or None)[0])
    print()
    print(table(reports))
    inexact = [r["model"] for r in reports for b in r["backends"].values() if b["csim"]["exact_fraction"] < 1.0]
    if inexact:
        print(f"error: csim is not bit-exact for {', '.join(sorted(set(inexact)))}; see first_diverging_layer in metrics.json",
              file=sys.stderr)
        return 1
    return status


def cmd_export(args) -> int:
    """firmware integration bundle -> hls_projects/<model>/bundle/

    Bundle a synthesised model for firmware integration: HLS project with a strict testbench, vendor
    scripts, HDL wrapper, test vectors, emulator library (CMSSW's loader), RTL core with its Verilog testbench, README."""
    from trigger.bundle import check_together, export
    from trigger.firmware import FirmwareProject, project_dir, projects_root
    from trigger.spec import check_emulator_name
    from trigger.trained import Trained

    if args.emulator_name and len(args.models) > 1:
        raise TriggerError("--emulator-name names one library; export one model with it")
    if args.rtl_events is not None and args.rtl_events < 1:
        raise TriggerError(f"--rtl-events {args.rtl_events}: give a number of events >= 1, or leave it out for all")
    specs, status = _elsewhere(resolve_specs(args), args, "backend", "emulator_name", "rtl_events")
    if status or not specs:
        return status
    bundles = {}
    for spec in specs:
        backend = args.backend or spec.firmware.backends[0]
        name = check_emulator_name(args.emulator_name, "--emulator-name") if args.emulator_name else spec.emulator_name
        print(f"== {spec.name} ({backend})")
        options = ((f" --backend {backend}" if args.backend else "") + (f" --emulator-name {name}" if args.emulator_name else "")
                   + (f" --rtl-events {args.rtl_events}" if args.rtl_events else ""))
        bundle = export(project_dir(spec, backend), projects_root() / spec.name / "bundle",
                        f"trigger synth {spec.name} && trigger export {spec.name}{options}", name,
                        lambda: FirmwareProject.graph_of(Trained.load(spec), backend), rtl_events=args.rtl_events)
        print(f"{spec.name}: bundle in {bundle}")
        bundles[name] = bundle
    if len(bundles) > 1:
        print(f"== the {len(bundles)} emulator libraries in one process (one CMS-style consumer, events interleaved)")
        for line in check_together(bundles):
            print(f"  {line}")
    return 0


def cmd_rtl(args) -> int:
    """RTL twin (da4ml Verilog) vs csim, cycle latency/II, yosys resources

    Build the da4ml RTL twin of each synthesised model into hls_projects/<model>/rtl/, simulate it with
    Icarus against the csim outputs (0 LSB), measure latency and II, synthesise it with yosys synth_xilinx;
    writes models/<model>/rtl.json, from which metrics.json takes its figures (labelled rtl)."""
    specs, status = _elsewhere(resolve_specs(args), args, "backend", "events")
    if status not in (0, 1) or not specs:  # 1: a twin that is not bit-exact, reported; the others still run
        return status
    from trigger.report import load_budget, metrics, rtl_table
    from trigger.rtl import run
    from trigger.trained import Trained

    reports, failed = [], []
    for trained in [Trained.load(spec) for spec in specs]:
        spec = trained.spec
        print(f"== {spec.name}")
        twin = run(trained, backend=args.backend, events=args.events)
        if not twin["figures"]:
            sim = twin["simulation"]
            failed.append(f"{spec.name} (first mismatch {sim['first_mismatch']}, first diverging layer "
                          f"{sim['first_diverging_layer']})")
        reports.append(metrics.refresh(spec.model_dir, load_budget(spec.model_dir / "budget.yml", trained.task.drop_names)))
    print()
    print(rtl_table(reports))
    if failed:
        print(f"error: RTL twin not bit-exact with the csim: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return status


def cmd_rates(args) -> int:
    """anomaly-trigger rates on a large background sample (bit-exact emulator)

    Score every event of a background sample with the numpy emulator (checked against the csim on the
    first events), then report the threshold and signal efficiencies at small FPRs and the rate of the
    shipped trigger bit; writes background_rates.json."""
    from trigger.verify import background_rates

    for trained in [_trained(m) for m in args.models]:
        print(f"== {trained.spec.name}")
        files = [Path(f) for f in args.files] if args.files else None
        report = background_rates.run(trained, files, args.csim_events, args.selection, args.name or "")
        print(background_rates.describe(report))
        stem = background_rates.REPORT_STEM + (f"_{args.name}" if args.name else "")
        print(f"  -> {trained.spec.model_dir / stem}.json")
    return 0


def cmd_bench(args) -> int:
    """numpy emulator vs hls4ml csim: throughput ratio, bit-exactness

    Run the same events through hls4ml's compiled csim predict() and the numpy emulator; print the
    throughput ratio and check equality on every event."""
    from trigger.report import bench_table
    from trigger.trained import Trained
    from trigger.verify import bench

    specs, status = _elsewhere(resolve_specs(args), args, "events")
    if status not in (0, 1) or not specs:  # 1: an emulator that is not bit-exact, reported; the others still run
        return status
    rows = [bench(Trained.load(spec), args.events) for spec in specs]
    print()
    print(bench_table(rows))
    return 0 if all(r["exact"] for r in rows) and not status else 1


def cmd_check(args) -> int:
    """budget gate: non-zero exit when a model is over budget (or its csim is not bit-exact)"""
    from trigger.report import budget, metrics
    from trigger.tasks import task_of

    status = 0
    for spec in resolve_specs(args):
        report = metrics.load(spec.model_dir)
        limits = budget.load_budget(spec.model_dir / "budget.yml", task_of(spec).drop_names)
        for backend, b in report["backends"].items():
            problems = budget.failures(budget.evaluate(b["figures"], b["metric_drops"], limits))
            if b["csim"]["exact_fraction"] < 1.0:
                problems.append(f"csim not bit-exact ({b['csim']['max_lsb_diff']} LSB max)")
            status |= bool(problems)
            verdict = "within budget" if limits is not None else "no budget.yml (budget none)"
            print(f"{spec.name}/{backend}: " + ("OVER BUDGET: " + "; ".join(problems) if problems else verdict))
    return status


def cmd_summary(args) -> int:
    """print the summary table from metrics.json"""
    from trigger.report import anomaly_table, metrics, summary

    directories = [_report_dir(m) for m in args.models]
    reports = [metrics.load(d) for d in directories]
    blocks = {"summary": summary.code_block(summary.table(reports))}
    anomaly = [d for d, r in zip(directories, reports) if r["task"] == "anomaly" and "signals" in r["metrics"]["float"]]
    for stale in [d for d in anomaly if not anomaly_table.measured_on_halves(d)]:
        print(f"note: {stale.name} has no row in the anomaly table: its threshold was set and measured on the same "
              f"events; retrain it (`trigger train {stale}`)", file=sys.stderr)
        anomaly.remove(stale)
    if anomaly:
        blocks["anomaly"] = anomaly_table.markdown(anomaly) + "\n"
        if samples := anomaly_table.samples_markdown(anomaly):
            blocks["anomaly-samples"] = samples + "\n"
    if args.readme:
        summary.update_readme(Path(args.readme), blocks)
        print(f"{' and '.join(blocks)} block(s) of {args.readme} rewritten")
    else:
        print("\n".join(blocks.values()))
    return 0


def cmd_scan(args) -> int:
    """design-space scan: train, convert and cost variants of a spec on Dask; Pareto fronts; --pick

    The knobs come from models/<name>/scan.yml (see trigger/scan/space.py). Trials are written to
    models/<name>/scan/ as they finish; running the same command again resumes a killed scan."""
    from trigger.scan import pick, scan

    for option in ("trials", "workers"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise TriggerError(f"--{option} {value}: must be at least 1 (leave it out for the default)")
    for spec in resolve_specs(args):
        if args.pick:
            pick(spec, None if args.pick is True else args.pick)
        else:
            scan(spec, trials=args.trials, workers=args.workers, scheduler=args.scheduler)
    return 0


def cmd_convert(args) -> int:
    """bring your own Keras/QKeras model: HLS project, csim harness, metrics.json, bundle

    Convert a dense Keras or QKeras model trained elsewhere and verify it like a shipped model: a QKeras
    model bit for bit (up to the logits when it ends in a softmax), a float model within --tolerance.
    Exit 0 only when the verification (and the --budget, if given) passes; the verdict is the last line."""
    from trigger.convert import ConvertOptions, convert, load_hls_config, load_sample, load_user_model, prepare
    from trigger.firmware import config_layer_names

    user = prepare(load_user_model(args.keras, args.json, args.weights), args.strip_softmax)  # layer kinds first
    name = args.name or Path(args.keras or args.json).stem
    hls_config = load_hls_config(args.hls_config, config_layer_names(user.model))
    x, features, units = load_sample(int(user.model.inputs[0].shape[-1]), args.input, args.root, args.mapping)
    given = {key: getattr(args, key) for key in ("backend", "part", "clock_ns", "input_precision", "saturation", "tolerance",
                                                 "events", "strip_softmax", "emulator_name")}
    options = ConvertOptions(name=name, **{key: value for key, value in given.items() if value is not None})
    out = Path(args.out or Path("converted") / name)
    report = convert(user, x, features, units, options, hls_config, args.budget, out, "trigger " + " ".join(args.command_line))
    verified, budget = report["verification"]["pass"], report["budget"]["pass"]
    print(f"{name}: metrics in {out / 'metrics.json'}; budget {'PASS' if budget else 'FAIL'}"
          + ("" if args.budget else " (no --budget given)"))
    print(f"verdict: {'PASS' if verified and budget else 'FAIL'}: {report['verification']['line']}",
          file=sys.stdout if verified and budget else sys.stderr)
    return 0 if verified and budget else 1


def _verb(sub, func, name: str | None = None, models: str | None = "model names, model directories or spec.yml paths"):
    """A subcommand whose help is `func`'s docstring (first line, then the description)."""
    help_, _, description = inspect.cleandoc(func.__doc__).partition("\n\n")
    p = sub.add_parser(name or func.__name__.removeprefix("cmd_"), help=help_, description=description or help_)
    if models:
        p.add_argument("models", nargs="+", help=models)
    p.set_defaults(func=func)
    return p


def _parser() -> argparse.ArgumentParser:
    from trigger.generators import GENERATORS

    parser = argparse.ArgumentParser(prog="trigger", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    data = sub.add_parser("data", help="generate datasets (Pythia8 on Dask) or locate a spec's data",
                          description="Generate a dataset into <data root>/<generator>-<key>/ (one ROOT file per "
                                      "chunk, a card.md with plots), resuming whatever a killed run left out.")
    kinds = data.add_subparsers(dest="generator", required=True)
    for name, cls in GENERATORS.items():
        p = kinds.add_parser(name, help=cls.summary(), description=f"{cls.summary()} Settings: {cls.__module__}.{cls.__name__}.")
        p.add_argument("--events", type=int, help="events per process (jets: per class; anomaly: per background process, see --set signal_events=N)")
        p.add_argument("--chunk-events", type=int, help="events per chunk file")
        p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other setting, e.g. --set mpi=false")
        p.add_argument("--out", help="data root directory (default: $TRIGGER_DATA or ./data)")
        p.add_argument("--workers", type=int, help="LocalCluster workers (default: one per core)")
        p.set_defaults(func=cmd_data_generator)
    _verb(kinds, cmd_data_spec, "spec")
    for p in kinds.choices.values():
        p.add_argument("--scheduler", help="use an existing Dask cluster, e.g. tcp://host:8786")
    _verb(sub, cmd_train)
    _verb(sub, cmd_synth).add_argument("--backend", action="append", choices=BACKENDS, help="only this backend (repeatable)")
    _convert_parser(_verb(sub, cmd_convert, models=None))
    p = _verb(sub, cmd_export)
    p.add_argument("--backend", choices=BACKENDS, help="the project to bundle (default: the spec's first backend)")
    p.add_argument("--emulator-name", help="the emulator library's <Model>_v<N>, the name CMSSW loads it by (default: the "
                                           "spec's firmware.emulator_name, else from the model name: jet_tagger -> JetTagger_v1)")
    p.add_argument("--rtl-events", type=int, help="run the RTL core's testbench on the first N test events only (default: "
                                                  "all; Icarus takes milliseconds per clock on a big core)")
    p = _verb(sub, cmd_rtl)
    p.add_argument("--backend", choices=BACKENDS, help="the csim to compare with (default: the spec's first backend)")
    p.add_argument("--events", type=int, help="only the first N test events (default: all)")
    p = _verb(sub, cmd_rates)
    p.add_argument("--files", nargs="+", help="ROOT files with the spec's tree and branches (default: the held-out test split)")
    p.add_argument("--csim-events", type=int, default=2000, help="events cross-checked against the csim first (default 2000)")
    p.add_argument("--selection", help="only events passing this expression (data-key syntax, with data.selection), e.g. "
                                       "the lepton-only stream: 'any(Electron_pt > 23) or any(Muon_pt > 23)'")
    p.add_argument("--name", help="label of this sample: writes background_rates_<name>.json (default: background_rates.json)")
    _verb(sub, cmd_bench).add_argument("--events", type=int, default=60000,
                                       help="events per model (the test sample, repeated; default 60000)")
    _verb(sub, cmd_check)
    p = _verb(sub, cmd_scan)
    p.add_argument("--trials", type=int, help="optimiser trials in all (default: scan.yml's trials); more resumes a finished scan")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="LocalCluster workers (default: one per core)")
    where.add_argument("--scheduler", help="use an existing Dask cluster, e.g. tcp://host:8786")
    p.add_argument("--pick", nargs="?", const=True, metavar="TRIAL",
                   help="write the best design within budget.yml as scan/pick/spec.yml (rule: scan.yml pick.tolerance) "
                        "instead of scanning; or the named trial (e.g. t0010), when nothing is within budget")
    _verb(sub, cmd_summary, models="model names, model directories or spec.yml paths, or converted/<name>").add_argument(
        "--readme", help="rewrite the summary block of this README instead of printing")
    return parser


def _convert_parser(p) -> None:
    model = p.add_argument_group("model (one of)")
    model.add_argument("--keras", type=Path, help="model saved by Keras 2 / tf_keras with model.save (.h5 or .keras)")
    model.add_argument("--json", type=Path, help="architecture from model.to_json() (with --weights)")
    model.add_argument("--weights", type=Path, help="weights from model.save_weights (with --json)")
    sample = p.add_argument_group("input sample (one of)")
    sample.add_argument("--input", type=Path, help="(events, features) in the model's input units: .npy, .csv (optional "
                        "header) or hls4ml .dat")
    sample.add_argument("--root", type=Path, nargs="+", help="ROOT file(s), with --mapping")
    sample.add_argument("--mapping", type=Path, help="YAML: tree + features (spec data.features syntax) [+ units]")
    p.add_argument("--hls-config", type=Path, help="hls4ml config YAML (HLSConfig block or full hls4ml project YAML)")
    p.add_argument("--budget", type=Path, help="budget YAML, as models/<name>/budget.yml")
    p.add_argument("--name", help="project name (default: the model file's stem)")
    defaults = "default: as in a model spec"
    p.add_argument("--backend", choices=BACKENDS, help="default Vitis")
    p.add_argument("--part", help=f"FPGA part ({defaults})")
    p.add_argument("--clock-ns", type=float, help=f"clock period ({defaults})")
    p.add_argument("--input-precision", help=f"firmware input type ({defaults}: ap_fixed<16,6>)")
    p.add_argument("--saturation", choices=["error", "clip"], help=f"inputs outside the input type ({defaults}: error)")
    p.add_argument("--tolerance", help="float models and softmax outputs: allowed |csim - Keras|, in output units or as a "
                   "percentage of each output's range on the sample, e.g. 2%% (default 0.05)")
    p.add_argument("--strip-softmax", action="store_true", help="convert up to the logits (a final softmax is dropped); "
                   "a QKeras model is then checked bit for bit throughout")
    p.add_argument("--events", type=int, help="events of the sample to run (default 6000)")
    p.add_argument("--out", help="where metrics.json goes (default converted/<name>)")
    p.add_argument("--emulator-name", help="the emulator library's <Model>_v<N>, the name CMSSW loads it by "
                                           "(default: from --name, e.g. jet_tagger -> JetTagger_v1)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
