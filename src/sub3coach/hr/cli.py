"""``sub3 hr``: train, evaluate and use heart-rate models (a Typer sub-app, mounted by the lead).

Every command parses its flags, calls one library function and prints a Rich table or, with
``--json``, JSON. Errors a user can cause print one line on stderr and exit 1 (2 for usage).
"""
from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from sub3coach.units import format_duration
from sub3coach.cli_common import JsonOpt, console, err_console, fail as _fail, print_json as _print_json, typer_app, warn as _warn
from sub3coach.errors import Sub3Error

hr_app = typer_app("hr", "Heart-rate model: predict HR from speed and altitude; train and evaluate models.")
log = logging.getLogger(__name__)

ModelOpt = Annotated[Optional[Path], typer.Option("--model", "-m", help="Model artifact (.pt). Default: the bundled model.")]


@hr_app.callback()
def _setup() -> None:
    """Heart-rate model: predict HR from speed and altitude; train and evaluate models.

    (torch's CPU threads are set where a model is loaded, so commands that only read metadata
    never import torch.)"""


def _fmt(x: Any, nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


# ---------------------------------------------------------------------------------------------
@hr_app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder (sub3 data shard), corpus Parquet, Endomondo JSON, or library (.duckdb) with HR.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model artifact (.pt).")],
    arch: Annotated[str, typer.Option("--arch", help="hrnet (default model), seed-lstm (SUB3_V2), linear or mean.")] = "hrnet",
    epochs: Annotated[int, typer.Option("--epochs", min=0, help="Maximum epochs (early stopping may end sooner).")] = 15,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the runner split, initialisation and shuffling.")] = 0,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Epochs without validation improvement before stopping.")] = 4,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Adam learning rate.")] = 2e-3,
    checkpoint_dir: Annotated[Optional[Path], typer.Option("--checkpoint-dir", help="Checkpoint folder (default: OUT.ckpt/).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint of an interrupted run.")] = False,
    device: Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:1... (default: GPU when present).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train an HR model on a runner-disjoint 70/15/15 split and save one artifact.

    \b
    Example:
      sub3 hr train --data ../shared/data/runs-dev.parquet --out my-hr.pt --epochs 15
      sub3 hr train --data ../shared/data/runs-dev.parquet --out my-hr.pt --epochs 15 --resume
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sub3coach.hr.train import TrainConfig, train_from_path

    try:
        cfg = TrainConfig(arch=arch, epochs=epochs, seed=seed, patience=patience, batch_size=batch_size, lr=lr, device=device)
    except Sub3Error as exc:
        raise _fail(exc, 2) from None
    ckpt = checkpoint_dir or out.with_name(out.name + ".ckpt")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err_console, transient=True, disable=as_json)
    table_rows: list[dict[str, Any]] = []
    task: list[Any] = []

    def callback(kind: str, rec: dict[str, Any]) -> None:
        if kind == "epoch_start":
            if task:
                progress.remove_task(task.pop())
            task.append(progress.add_task(f"epoch {rec['epoch']}/{rec['epochs']}", total=rec["batches"]))
        elif kind == "batch" and task:
            progress.update(task[0], completed=rec["batch"])
        elif kind == "epoch":
            table_rows.append(rec)
            if not as_json:
                val = rec.get("val_mae_bpm")
                progress.console.print(
                    f"epoch {rec['epoch']:>3}  train MAE {rec['train_mae_bpm']:6.2f} BPM  "
                    f"val MAE {_fmt(val, 2):>6} BPM  ({_fmt(rec.get('seconds'), 1)} s)"
                    + ("  *best" if rec.get("best_epoch") == rec["epoch"] else ""),
                    highlight=False,
                )

    try:
        with progress:
            if not as_json:
                progress.console.print(f"reading and featurising {data} ...", highlight=False)
            report = train_from_path(data, out, cfg, checkpoint_dir=ckpt, resume=resume, callback=callback)
    except Sub3Error as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(report)
        return
    t = report["test"]
    if "grid_mae_bpm" in t:  # a dataset folder: grid-step MAE of the network (see sub3coach.hr.ddp)
        t = {**t, "mae_bpm": t["grid_mae_bpm"]}
    console.print(f"saved {report['model']} ({report['arch']}, {report['parameters']:,} parameters, best epoch {report['best_epoch']})", highlight=False)
    console.print(
        f"held-out runners ({report['split']['test']}): MAE {_fmt(t.get('mae_bpm'), 2)} BPM, RMSE {_fmt(t.get('rmse_bpm'), 2)} BPM, "
        f"median workout MAE {_fmt(t.get('median_workout_mae_bpm'), 2)} BPM over {t.get('n_workouts')} workouts",
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------
@hr_app.command("evaluate")
def evaluate_cmd(
    data: Annotated[Path, typer.Option("--data", help="Corpus Parquet, Endomondo JSON, library or workout file with HR.")],
    model: ModelOpt = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write metrics.json, figures and an animated GIF here.")] = None,
    split: Annotated[str, typer.Option("--split", help="all: every workout; test/val/train: only the runners of that part of the model's own split.")] = "all",
    protocol: Annotated[Optional[str], typer.Option("--protocol", help="Runner-level K-fold protocol: cold, personal, in-run or all (trains per fold; --model is not used).")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="K of the runner-level K-fold (with --protocol).")] = 5,
    observed_minutes: Annotated[float, typer.Option("--observed-minutes", min=1, help="In-run protocol: minutes of measured HR known.")] = 10.0,
    baselines: Annotated[str, typer.Option("--baselines", help="Baselines trained on the same folds (comma list of mean, linear, seed-lstm; '' for none).")] = "mean,linear,seed-lstm",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="With --protocol: maximum epochs per fold model.")] = 15,
    cache: Annotated[Optional[Path], typer.Option("--cache", help="With --protocol: keep trained fold models here and reuse them.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a model against recorded HR, or run the runner-level K-fold protocol.

    With --protocol, all runners of --data are split into K folds (never one runner on both
    sides); per fold the network, its personal head and the baselines are trained on the other
    runners and scored per recorded sample: cold (nothing known), personal (first half of each
    runner's runs as history, second half scored), in-run (first M minutes of HR known, the rest
    scored); with the 80 % band's coverage.

    \b
    Examples:
      sub3 hr evaluate --data ../shared/data/runs-dev.parquet --protocol all --folds 5 --json
      sub3 hr evaluate --data ../shared/data/runs-dev.parquet --split test --json
      sub3 hr evaluate --model my-hr.pt --data runs.parquet --report report/
    """
    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.evaluate import evaluate_path, write_report

    if protocol is not None:
        _protocol_cmd(data, protocol, folds, observed_minutes, baselines, epochs, cache, report, as_json)
        return
    try:
        lm = load_model(model)
        runners = None
        if split != "all":
            parts = (lm.meta.get("split") or {}).get("runners") or {}
            if split not in ("train", "val", "test"):
                raise _fail(f"--split must be all, train, val or test, not {split!r}", 2)
            if split not in parts:
                raise Sub3Error(f"the model records no {split!r} runners; use --split all")
            runners = parts[split]
        result = evaluate_path(lm, data, runners=runners)
        if not result.workouts:
            raise Sub3Error("no workout with heart rate and speed to evaluate", str(data))
        files = write_report(result, report) if report else {}
    except Sub3Error as exc:
        raise _fail(exc) from None
    m = result.metrics()
    if files:
        m["report_files"] = files
    if as_json:
        _print_json(m)
        return
    console.print(
        f"{m['model']['name']} on {m['n_workouts']} workouts / {m['n_runners']} runners ({m['n_steps']:,} valid {lm.spec.step_s:g}-s steps): "
        f"MAE {_fmt(m['mae_bpm'], 2)} BPM, RMSE {_fmt(m['rmse_bpm'], 2)} BPM, median workout MAE {_fmt(m['median_workout_mae_bpm'], 2)} BPM",
        highlight=False,
    )
    for title, key in (("by workout type (from speed only)", "per_type"), ("by runner", "per_runner")):
        tab = Table(title=title)
        for c in ("", "workouts", "MAE", "RMSE", "median wk MAE", "true mean", "pred mean"):
            tab.add_column(c, justify="right" if c else "left")
        for k, r in m[key].items():
            tab.add_row(k, str(r["n_workouts"]), _fmt(r["mae_bpm"]), _fmt(r["rmse_bpm"]), _fmt(r["median_workout_mae_bpm"]),
                        _fmt(r["true_mean_bpm"]), _fmt(r["pred_mean_bpm"]))
        console.print(tab)
    if files:
        console.print(f"report written to {report}: " + ", ".join(Path(f).name for f in files.values()), highlight=False)


def _protocol_cmd(data: Path, protocol: str, folds: int, minutes: float, baselines: str, epochs: int,
                  cache: Path | None, report: Path | None, as_json: bool) -> None:
    """``sub3 hr evaluate --protocol``: the runner-level K-fold protocol (see sub3coach.hr.protocol)."""
    import json

    from sub3coach.hr.protocol import PROTOCOLS, ProtocolConfig, load_items, run_protocol
    from sub3coach.hr.train import TrainConfig

    if protocol not in (*PROTOCOLS, "all"):
        raise _fail(f"--protocol must be one of {', '.join(PROTOCOLS)} or all, not {protocol!r}", 2)
    base = tuple(b.strip() for b in baselines.split(",") if b.strip())
    if report is not None:  # fail now, not after the K-fold run
        try:
            report.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _fail(f"{report}: cannot write the report ({exc.strerror or exc})") from None
    try:
        cfg = ProtocolConfig(folds=folds, minutes=minutes, baselines=base, train=TrainConfig(epochs=epochs),
                             cache_dir=str(cache) if cache else None)
        for b in base:
            TrainConfig(arch=b)
        with err_console.status("featurising runs") if not as_json else contextlib.nullcontext():
            items, names, skipped = load_items(data, cfg)
        if not items:
            raise Sub3Error("no run with heart rate and speed to evaluate", str(data))
        rep = run_protocol(items, names, cfg, progress=None if as_json else lambda m: err_console.print(m, highlight=False))
        rep["data"] = {"path": str(data), "workouts": len(items), "skipped": skipped}
        if report is not None:
            (report / "protocol.json").write_text(json.dumps(rep, indent=1))
    except (Sub3Error, OSError) as exc:
        raise _fail(exc) from None
    if protocol != "all":
        rep["modes"] = {protocol: rep["modes"].get(protocol, {})}
    if as_json:
        _print_json(rep)
        return
    for mode, methods in rep["modes"].items():
        tab = Table(title=f"{mode}: {folds}-fold by runner, per recorded sample (BPM)")
        for c in ("method", "MAE", "RMSE", "runner mean", "median workout", "runner median", "80% band"):
            tab.add_column(c, justify="left" if c == "method" else "right")
        for name, e in methods.items():
            cov = e.get("band80_coverage")
            tab.add_row(name, _fmt(e["mae_bpm"], 2), _fmt(e["rmse_bpm"], 2), _fmt(e["runner_mean_mae_bpm"], 2),
                        _fmt(e["median_workout_mae_bpm"], 2), _fmt(e["runner_median_of_median_workout_mae_bpm"], 2),
                        f"{100 * cov:.0f}%" if cov is not None else "-")
        console.print(tab)


# ---------------------------------------------------------------------------------------------
def _load_input(input_: str, library: Path | None) -> tuple[str, Any]:
    """("corpus", path) or ("workout", Workout) for a file path, or a library run id."""
    from sub3coach.hr.data import data_kind

    p = Path(input_)
    if p.exists():
        kind = data_kind(p)
        if kind in ("corpus", "endomondo"):
            return "stream", p
        if kind == "library":
            return "stream", p
        from sub3coach.io.dispatch import read_workout

        return "workout", read_workout(p)
    # not a file: a library run id (unless it plainly names a file)
    if p.suffix.lower() in (".fit", ".gpx", ".tcx", ".gz", ".parquet", ".json", ".csv", ".zip") or "/" in input_:
        raise Sub3Error("no such file", input_)
    from sub3coach.library import Library

    try:
        lib = Library(library, read_only=True)
    except Sub3Error as exc:
        raise Sub3Error(f"no such file, and no library to look it up as a run id ({exc.detail})", input_) from exc
    try:
        return "workout", lib.get_workout(input_)
    except KeyError as exc:
        raise Sub3Error("no such file, and no run with this id in the library", input_) from exc
    finally:
        lib.close()


@hr_app.command("predict")
def predict_cmd(
    input_: Annotated[Optional[str], typer.Argument(metavar="INPUT", help="Workout file (FIT/GPX/TCX), library run id, or corpus Parquet.")] = None,
    model: ModelOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write predictions: FILE.csv or FILE.parquet (workout_id, timestamp, hr_pred, hr_lo, hr_hi); a FOLDER/ for a dataset or corpus (sharded, all cores).")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Draw the predicted curve with its band (PNG/SVG/PDF); single workout or course.")] = None,
    course: Annotated[Optional[Path], typer.Option("--course", help="A route (GPX/FIT/TCX) to predict for a run not yet done.")] = None,
    pace: Annotated[Optional[str], typer.Option("--pace", help="Planned pace for --course, m:ss per km (e.g. 4:15).")] = None,
    pace_plan: Annotated[Optional[Path], typer.Option("--pace-plan", help="CSV of km,pace (m:ss) rows for --course.")] = None,
    observed_minutes: Annotated[Optional[float], typer.Option("--observed-minutes", min=0.5, max=600, help="In-run forecast: use the measured HR of the first M minutes, forecast the rest.")] = None,
    max_hr: Annotated[Optional[float], typer.Option("--max-hr", min=100, max=240, help="Your maximum HR, BPM: zones, and a cold start (the highest HR your watch records in hard efforts).")] = None,
    resting_hr: Annotated[Optional[float], typer.Option("--resting-hr", min=25, max=120, help="Your resting HR, BPM (kept with a personal model; does not change predictions yet).")] = None,
    athlete: Annotated[Optional[str], typer.Option("--athlete", "-a", help="Whose personal model (default: the library's only athlete).")] = None,
    cold: Annotated[bool, typer.Option("--cold", help="Ignore your history: predict for an average runner.")] = False,
    library: Annotated[Optional[Path], typer.Option("--library", envvar="SUB3_LIBRARY", help="Library for run ids and your personal model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict heart rate with its 80 % band, one value per input sample, plus time in zones.

    Uses your personal model when your library has runs of yours with HR (see --athlete,
    --cold). Zones are % of your max HR (--max-hr, else your athlete profile's stated or
    estimated one; 190 BPM only when nothing is known): Z1 50-60, Z2 60-70, Z3 70-80, Z4 80-90, Z5 90+.

    \b
    Examples:
      sub3 hr predict run.fit --plot hr.png
      sub3 hr predict run.fit --observed-minutes 10 --plot forecast.png
      sub3 hr predict --course route.gpx --pace 4:15 --max-hr 185
      sub3 hr predict --course route.gpx --pace-plan plan.csv
      sub3 hr predict runs.parquet --out hr.parquet
      sub3 hr predict ds/ --out preds/        (a dataset of sub3 data shard, or a corpus, to a folder)
    """
    from sub3coach.hr.batch import is_batch_request, run_cli

    if input_ is not None and course is None and is_batch_request(input_, out):
        return run_cli(input_, out, model, as_json)  # type: ignore[arg-type]
    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.cli_personal import resolve_personal

    try:
        _check_predict_args(input_, course, pace, pace_plan, out)
        lm = load_model(model)
        workouts, label, stream = _predict_inputs(input_, course, pace, pace_plan, library)
        before = float(workouts[0].time_s[0]) if course is None and not stream and len(workouts[0]) else None
        if athlete is None and course is None and not stream:  # a library run: its own athlete's model and zones
            athlete = (workouts[0].metadata or {}).get("athlete") or None
        ctx = resolve_personal(lm, library, athlete, cold=cold or stream, max_hr=max_hr, resting_hr=resting_hr,
                               model_given=model is not None, before_s=before) if not (stream and model is None) else None
        if plot is not None and stream:
            raise _fail("--plot draws one workout; INPUT holds several (use --out)", 2)
        zones_max = (ctx.zones_max_hr if ctx else None) or max_hr
        n, n_rows, summaries, first = _predict_stream(_run_predictions(lm, workouts, ctx, observed_minutes, max_hr), out, zones_max)
        if n == 0:
            raise Sub3Error("nothing to predict: no workout with speed, distance or GPS", label)
        if plot is not None:
            _plot_prediction(first, plot, label, zones_max, with_altitude=course is not None)
    except Sub3Error as exc:
        raise _fail(exc) from None
    if zones_max is None:
        from sub3coach.load import default_zones

        _warn(default_zones().warning)
    note = ctx.note if ctx else "cold start (batch)"
    if observed_minutes is not None:
        note += f"; in-run forecast from the measured HR of the first {observed_minutes:g} min"
    result = {"input": label, "model": lm.name, "personal": note,
              "n_workouts": n, "n_rows": n_rows, "out": str(out) if out else None,
              "plot": str(plot) if plot else None, "workouts": summaries}
    if n == 1:
        w, pr = first
        result["samples"] = {"timestamp": [float(t) for t in pr.time_s], "hr_pred": _rounded(pr.hr_pred),
                             "hr_lo": _rounded(pr.hr_lo), "hr_hi": _rounded(pr.hr_hi)}
    if as_json:
        _print_json(result)
        return
    console.print(result["personal"], highlight=False)
    _print_summaries(summaries, zones_max)
    if out:
        console.print(f"wrote {n_rows:,} rows to {out}", highlight=False)
    if plot:
        console.print(f"plot written to {plot}", highlight=False)


def _rounded(a: Any) -> list[float | None]:
    import numpy as np

    return [round(float(v), 1) if np.isfinite(v) else None for v in a]


def _check_predict_args(input_: str | None, course: Path | None, pace: str | None, pace_plan: Path | None, out: Path | None) -> None:
    if (input_ is None) == (course is None):
        raise _fail("give either INPUT or --course ROUTE", 2)
    if course is not None and (pace is None) == (pace_plan is None):
        raise _fail("--course needs exactly one of --pace m:ss or --pace-plan FILE", 2)
    if course is None and (pace or pace_plan):
        raise _fail("--pace and --pace-plan only apply to --course", 2)
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise _fail("--out must end in .csv or .parquet", 2)


def _predict_inputs(input_: str | None, course: Path | None, pace: str | None, pace_plan: Path | None,
                    library: Path | None) -> tuple[Any, str, bool]:
    """(workouts, label, is_a_stream_of_many_runners) for the predict command."""
    from sub3coach.hr.predict import course_workout, parse_pace, read_pace_plan

    if course is not None:
        from sub3coach.io.dispatch import read_course

        paces = parse_pace(pace) if pace else read_pace_plan(pace_plan)  # type: ignore[arg-type]
        return [course_workout(read_course(course), paces)], f"{course} at {pace or pace_plan}", False
    kind, obj = _load_input(input_, library)  # type: ignore[arg-type]
    if kind == "stream":
        from sub3coach.hr.data import iter_workouts

        return iter_workouts(obj, sport=None), str(input_), True
    return [obj], str(input_), False


def _run_predictions(lm: Any, workouts: Any, ctx: Any, observed_minutes: float | None,
                     max_hr: float | None) -> Any:
    """(workout, HRPrediction) pairs, lazily: batched for a corpus, one by one otherwise."""
    from sub3coach.hr.predict import predict_full, predict_many

    if ctx is None:  # a corpus: batched, cold start
        if observed_minutes is not None:
            raise _fail("--observed-minutes applies to one workout, not a corpus", 2)
        return predict_many(lm, workouts, stated={"max_hr_bpm": max_hr})
    return ((w, predict_full(lm, w, personal=ctx.personal, stated=ctx.stated, observed_minutes=observed_minutes))
            for w in workouts)


#: Workouts summarised in the command's output (all are written to --out).
MAX_SUMMARIES = 50


def _predict_stream(pairs: Any, out: Path | None, zones_max: float | None) -> tuple[int, int, list[dict[str, Any]], Any]:
    """Write every prediction to ``out`` as it comes; returns (workouts, rows, summaries of the
    first :data:`MAX_SUMMARIES`, the first pair)."""
    from sub3coach.hr.predict import PredictionWriter

    writer = PredictionWriter(out) if out is not None else None
    n = n_rows = 0
    summaries: list[dict[str, Any]] = []
    first = None
    try:
        for w, pr in pairs:
            n += 1
            n_rows += len(w)
            first = first or (w, pr)
            if writer is not None:
                writer.write(w, pr)
            if len(summaries) < MAX_SUMMARIES:
                summaries.append(_prediction_summary(w, pr, zones_max))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.close()
    return n, n_rows, summaries, first


def _plot_prediction(pair: Any, plot: Path, label: str, zones_max_hr: float | None, *, with_altitude: bool) -> None:
    from sub3coach import viz
    from sub3coach.athletes import DEFAULT_MAX_HR_BPM

    w, pr = pair
    title = f"Predicted heart rate ({pr.mode}) - {Path(label).name}"
    try:
        viz.plot_hr(w.time_s, pr.hr_pred, plot, hr_true=w.hr_bpm if w.has("hr_bpm") else None, speed_mps=_speed_for_plot(w),
                    title=title, zones_max_hr=zones_max_hr or DEFAULT_MAX_HR_BPM, altitude_m=w.altitude_m if with_altitude else None,
                    hr_lo=pr.hr_lo, hr_hi=pr.hr_hi, observed_until_s=pr.observed_until_s, zones_assumed=not zones_max_hr)
    except OSError as exc:
        raise Sub3Error(f"cannot write the plot ({exc.strerror or exc})", str(plot)) from exc


def _prediction_summary(w: Any, pr: Any, max_hr: float | None) -> dict[str, Any]:
    import numpy as np

    from sub3coach.hr.predict import hr_summary

    s = hr_summary(w.time_s, pr.hr_pred, max_hr_bpm=max_hr)
    s["workout_id"] = w.workout_id or w.content_id()
    s["n_samples"] = int(len(w))
    s["mode"] = pr.mode
    ok = np.isfinite(pr.hr_lo) & np.isfinite(pr.hr_hi)
    s["band80_mean_width_bpm"] = round(float(np.mean(pr.hr_hi[ok] - pr.hr_lo[ok])), 1) if ok.any() else None
    if w.has("hr_bpm"):
        okh = np.isfinite(w.hr_bpm)
        s["recorded_mean_hr_bpm"] = float(np.mean(w.hr_bpm[okh])) if okh.any() else None
        if pr.observed_until_s is not None:
            after = okh & (w.time_s > pr.observed_until_s)
            s["mae_after_observed_bpm"] = round(float(np.mean(np.abs(pr.hr_pred - w.hr_bpm)[after])), 2) if after.any() else None
    return s


def _speed_for_plot(w: Any) -> Any:
    import numpy as np

    if w.has("speed_mps"):
        return w.speed_mps
    d = w.distance_track_m()
    if d is None:
        return None
    from sub3coach.geo import speed_from_distance_mps

    v = speed_from_distance_mps(w.time_s, d)
    return np.clip(v, 0, 10)


#: Public names for the web app (one summary and one speed channel for CLI and page).
prediction_summary = _prediction_summary
speed_for_plot = _speed_for_plot


def _print_summaries(summaries: list[dict[str, Any]], max_hr: float | None) -> None:
    if len(summaries) > 1:
        tab = Table(title=f"predicted HR for {len(summaries)} workouts")
        for c in ("workout", "duration", "mean HR", "max HR", "recorded mean"):
            tab.add_column(c, justify="left" if c == "workout" else "right")
        for s in summaries[:30]:
            tab.add_row(str(s["workout_id"])[:16], format_duration(s["duration_s"]), _fmt(s["mean_hr_bpm"]), _fmt(s["max_hr_pred_bpm"]),
                        _fmt(s.get("recorded_mean_hr_bpm")))
        console.print(tab)
        if len(summaries) > 30:
            console.print(f"... and {len(summaries) - 30} more (use --out or --json)")
        return
    s = summaries[0]
    basis = f"% of max HR {s['max_hr_bpm_for_zones']:.0f}" + (" (assumed; set yours with --max-hr)" if s["max_hr_assumed"] else "")
    console.print(f"mean predicted HR {_fmt(s['mean_hr_bpm'])} BPM, max {_fmt(s['max_hr_pred_bpm'])} BPM over {format_duration(s['duration_s'])}"
                  + (f" (recorded mean {_fmt(s['recorded_mean_hr_bpm'])} BPM)" if s.get("recorded_mean_hr_bpm") else ""), highlight=False)
    tab = Table(title="time in HR zones")
    labels = {"Z0": "below 50%", "Z1": "50-60%", "Z2": "60-70%", "Z3": "70-80%", "Z4": "80-90%", "Z5": "90%+"}
    tab.add_column("zone")
    tab.add_column("% max HR")
    tab.add_column("time", justify="right")
    tab.add_column("share", justify="right")
    total = sum(s["time_in_zones_s"].values()) or 1.0
    for z, secs in s["time_in_zones_s"].items():
        tab.add_row(z, labels[z], format_duration(secs), f"{100 * secs / total:.0f}%")
    console.print(tab)
    console.print(f"zones in {basis}", highlight=False)


@hr_app.command("info")
def info_cmd(model: ModelOpt = None, as_json: JsonOpt = False) -> None:
    """Show what a model artifact is: architecture, features, training data, metrics.

    \b
    Example:
      sub3 hr info --json
    """
    from sub3coach.hr.artifact_meta import describe_file

    try:
        d = describe_file(model)
    except Sub3Error as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(d)
        return
    console.print(f"{d['name']} ({d['arch']}, {d['parameters']:,} parameters), format {d['format']}, sub3coach {d['package_version']}, "
                  f"created {d['created_utc']}", highlight=False)
    console.print(f"features ({len(d['features'])}, {d['step_s']:g}-s grid): {', '.join(d['features'])}", highlight=False)
    proto = (d.get("metrics") or {}).get("protocol") or {}
    for mode in ("cold", "personal", "in-run"):
        e = proto.get(mode)
        if e:
            cov = e.get("band80_coverage")
            console.print(f"{mode}: MAE {_fmt(e.get('mae_bpm'), 2)} BPM, median workout MAE {_fmt(e.get('median_workout_mae_bpm'), 2)} BPM, "
                          f"80% band covers {'-' if cov is None else f'{100 * cov:.0f}%'} ({proto.get('folds')}-fold by runner, "
                          f"{e.get('n_runners')} runners; see MODEL_CARD.md)", highlight=False)
    test = (d.get("metrics") or {}).get("test") or {}
    if test:
        console.print(f"held-out runners: MAE {_fmt(test.get('mae_bpm'), 2)} BPM, RMSE {_fmt(test.get('rmse_bpm'), 2)} BPM, "
                      f"median workout MAE {_fmt(test.get('median_workout_mae_bpm'), 2)} BPM ({test.get('n_workouts')} workouts)", highlight=False)


from sub3coach.hr import cli_personal as _cli_personal  # noqa: E402,F401  (registers personalize and pace)
