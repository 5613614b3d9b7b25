"""`trigger synth`: a trained model's HLS project for every backend, verified by the harness, and
its report: models/<name>/metrics.json and plots/ (the task's, and csim against Keras)."""

import hashlib
from importlib import metadata

from trigger.engines import engine_of
from trigger.figures import best, load_rtl, rtl
from trigger.firmware import FirmwareProject, Settings, interface, project_dir, require_gxx
from trigger.report import load_budget
from trigger.report import metrics as report_file
from trigger.spec import Spec
from trigger.trained import Trained
from trigger.verify import BackendResult, Reference, csim_scatter, describe, run


def synth(spec: Spec, backends: list[str] | None = None, log=print, plots: bool = True) -> tuple[dict, list[BackendResult]]:
    """Run the harness for every backend; write metrics.json (and the plots) and return it with each backend's
    result (its fixed-point graph is what the scan costs)."""
    require_gxx()
    trained = Trained.load(spec)
    task = trained.task
    limits = load_budget(spec.model_dir / "budget.yml", task.drop_names)  # a bad budget fails before any csim
    sample, x = trained.sample, trained.x
    head = task.firmware_model(trained)
    engine = engine_of(spec)
    reference = Reference.of(head, x, trained.preprocessing.scaled(sample.x), layers=engine.layer_outputs(head, x))
    float_out = task.float_reference(trained, x)

    def files(project):
        return task.firmware_files(trained, project.output_type, project.hls_model.get_output_variables()[0].type.name)

    def meanings(n_outputs: int):
        return task.input_meanings(trained.preprocessing), task.output_meanings(n_outputs)

    results = []
    for backend in backends or spec.firmware.backends:
        r = run(lambda d: FirmwareProject(head, Settings.of(spec, backend), d, task.head_precisions),
                project_dir(spec, backend), reference, files, meanings)
        log(f"{describe(r.agreement, backend)}  [{r.seconds:.0f} s]  {r.synthesis}")
        results.append(r)

    metrics = {"float": task.evaluate(float_out, sample, "float", trained),
               "quantized": task.evaluate(reference.outputs, sample, "quantized", trained)}
    entries = {}
    for r in results:
        csim = task.evaluate(r.csim_out, sample, "csim", trained)
        headline = {"metric": task.metric, "float": task.headline(metrics["float"]), "csim": task.headline(csim)}
        entries[r.backend] = report_file.backend_entry(r, csim, task.drops(metrics["float"], csim), headline)
    provenance = {"spec_sha256": hashlib.sha256(spec.path.read_bytes()).hexdigest() if spec.path else None,
                  "versions": {p: metadata.version(p) for p in engine.versions},
                  "estimate_method": "trigger.figures docstring (analytic; not a synthesis result)"}
    twin = load_rtl(spec.model_dir)
    pre = trained.preprocessing
    inputs = {"precision": pre.precision, "saturation": pre.saturation, "clipped": pre.clipped(sample.x)}
    data = {"data": trained.dataset} if trained.dataset is not None else {}
    report = report_file.assemble(spec.name, spec.task, len(sample.y), metrics, results[0].overflow, entries, limits, twin,
                                  input=inputs, **data, provenance=provenance)
    for r in results:
        cores = {"hls": best(r.estimate, r.vivado), "rtl": rtl(twin, r.graph_sha256)}
        interface.write(r.project, r.ports, cores, describe(r.agreement, r.backend))

    report_file.write(spec.model_dir, report)
    if not plots:
        return report, results
    plot_dir = spec.model_dir / "plots"
    outputs = {"float": float_out, "quantized": reference.outputs, "csim": results[0].csim_out}
    task.plots(plot_dir, sample, outputs, results[0].backend, trained)
    for r in results:
        csim_scatter(plot_dir / f"csim_vs_keras_{r.backend}.png", reference.outputs, r.csim_out, r.output_type.lsb,
                     r.backend, r.agreement.exact_fraction)
    return report, results
