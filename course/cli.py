"""The ``course`` command.

    course status [--solutions] [--in-process] [--fresh]   your points per step, as a table
    course train --model {bigram,mlp,transformer} --data {shakespeare,stories,abab,PATH} ...
    course sample --checkpoint PATH --prompt TEXT [--max-new-tokens N] [--temperature T] ...
    course attention --checkpoint PATH --text TEXT   a PNG grid of every head's attention
    course trace --checkpoint PATH --text TEXT       one input followed through the model
    course compare [--data stories]                  the MLP LM and the transformer side by side
    course experiment {n_embd,n_layer,gelu,lr}       a modification experiment, curves on one plot
    course demo                                 the end-to-end demo (same as `make demo`)
    course release --out DIR [--force]          write the student copy of the course (instructors)
    course stubs [--check]                      regenerate exercises/ stubs from solutions/ (instructors)
    course notebooks [--check]                  rebuild the nbgrader source notebooks (instructors)
    course grade SUBMISSIONS --out DIR [--steps step00-step11] [--jobs N] ...   grade a class (instructors)
    course gradescope-bundle --out autograder.zip [--steps ...] [--seed N]     a Gradescope autograder

The commands that train and sample run *your* modules from ``exercises/``: what you train
is your own model. When a piece they need is unfinished they stop and name the step to
finish. In the instructor copy, ``--solutions`` runs the reference instead.

Every problem the user can fix (a missing file, a checkpoint of another vocabulary, an
unknown preset, a step that is not finished) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course.data import CorpusError
from grader.release import NotebookRelease, write_release
from grader.status import REPO, CommandError, format_status, graded_with_reuse
from grader.stubs import stale_stubs, write_stubs


def cmd_status(args) -> int:
    options = (["--solutions"] if args.solutions else []) + (["--in-process"] if args.in_process else [])
    scores, reused = graded_with_reuse(options, fresh=args.fresh)
    print(format_status(scores))
    if reused:
        print(f"\n(grades of {', '.join(reused)} reused: their files have not changed; --fresh grades all again)")
    print("\nrun `pytest exercises/stepNN` for the hints of one step")
    return 0


COURSE_ID = "gpt-from-scratch"


def notebook_release() -> NotebookRelease:
    """The course's notebooks: the nbgrader sources and their builder stay with the instructor."""
    from course.notebooks import NAMES, SOURCE

    folder = "course/notebooks"
    return NotebookRelease(source=SOURCE, names=NAMES, destination=folder, course_id=COURSE_ID,
                           instructor_only=[f"{folder}/{name}" for name in
                                            ("source", "content", "build.py", "__main__.py", "nbgrader_config.py")])


def instructor_builder():
    if not (REPO / "course" / "notebooks" / "build.py").is_file():
        raise CommandError("the notebooks are built in the instructor copy; this student copy has them ready in "
                           "course/notebooks/")
    from course.notebooks import build

    return build


def cmd_release(args) -> int:
    out_of_date = instructor_builder().stale()
    if out_of_date:
        raise CommandError(f"notebooks are out of date ({', '.join(str(p.relative_to(REPO)) for p in out_of_date)}): "
                           "run `course notebooks` first")
    out = write_release(args.out, force=args.force, notebooks=notebook_release())
    files = sum(1 for p in out.rglob("*") if p.is_file())
    print(f"student copy written to {out} ({files} files, no solutions/; the notebooks in course/notebooks/)")
    return 0


def parse_steps(text: str | None) -> list[str]:
    """``step00-step11``, ``step03,step05`` or None (every step with a suite)."""
    available = sorted(p.name for p in (REPO / "exercises").glob("step[0-9][0-9]") if any(p.glob("test_*.py")))
    if not text:
        return available
    chosen: list[str] = []
    for part in text.split(","):
        bounds = part.strip().split("-")
        if len(bounds) == 2 and all(b in available for b in bounds):
            chosen += [s for s in available if bounds[0] <= s <= bounds[1]]
        elif len(bounds) == 1 and bounds[0] in available:
            chosen.append(bounds[0])
        else:
            raise CommandError(f"--steps {text!r}: name steps such as step00-step11 or step03,step05 "
                               f"(available: {available[0]} to {available[-1]})")
    return sorted(set(chosen))


def cmd_grade(args) -> int:
    import json

    from tqdm import tqdm

    from grader import batch
    from grader.isolation import unavailable_reason

    out = Path(args.out)
    steps = parse_steps(args.steps)
    if not args.no_isolation:
        reason = unavailable_reason()
        if reason:
            raise CommandError(f"course grade runs each student's code inside bubblewrap, which cannot run here: "
                               f"{reason}. Add --no-isolation to grade without it (the summary will say so)")
    notebooks = batch.read_nbgrader_csv(Path(args.nbgrader_csv)) if args.nbgrader_csv else None
    # One seed per batch, recorded: a rerun (resuming a stopped batch) grades with the same one.
    record = out / "batch.json"
    recorded = json.loads(record.read_text()) if record.is_file() else {}
    seed = args.seed if args.seed is not None else recorded.get("seed") or batch.new_seed()
    options = batch.Options(suites=REPO / "exercises", steps=steps, seed=seed, jobs=args.jobs,
                            timeout_s=args.timeout, call_timeout_s=args.call_timeout, memory_mb=args.memory,
                            isolate=not args.no_isolation, force=args.force)
    entries = batch.submissions(Path(args.submissions))
    if not entries:
        raise CommandError(f"{args.submissions} holds no submission (one folder or .zip per student)")
    out.mkdir(parents=True, exist_ok=True)
    batch.write_atomically(record, json.dumps({"seed": seed, "steps": steps, "isolation": not args.no_isolation},
                                              indent=1) + "\n")
    print(f"grading {len(entries)} submissions, {steps[0]}..{steps[-1]}, grading seed {seed}, "
          f"{args.jobs} at a time{'' if options.isolate else ', WITHOUT isolation'}")
    reused = 0
    with tqdm(total=len(entries), unit="student") as bar:
        def on_result(result, was_reused):
            nonlocal reused
            reused += was_reused
            bar.set_postfix_str(f"{result.student}: {result.points:g}" if result.steps else result.student)
            bar.update()

        results = batch.run_batch(Path(args.submissions), out, options, on_result)
    batch.write_gradebook(results, out, steps, notebooks, isolated=options.isolate)
    print((out / "summary.md").read_text())
    if reused:
        print(f"{reused} students were graded by an earlier run and kept (--force grades them again)")
    print(f"gradebook: {out / 'grades.csv'}; feedback: {out / 'feedback'}/")
    return 0


def cmd_gradescope_bundle(args) -> int:
    from grader import batch
    from grader.gradescope import build_bundle

    steps = parse_steps(args.steps)
    files = {}
    for folder in ("grader", "exercises"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[path.relative_to(REPO).as_posix()] = path
    # The suites read a corpus helper of the course; nothing else of course/ goes in.
    for name in ("course/__init__.py", "course/data.py", "course/tinystories.py", "pyproject.toml"):
        files[name] = REPO / name
    seed = args.seed if args.seed is not None else batch.new_seed()
    requirements = ["numpy>=1.24", "pytest>=8.0", "regex>=2023.0", "tiktoken>=0.7", "bpe-openai>=0.1.4"]
    out = build_bundle(Path(args.out), files, steps, seed, requirements)
    print(f"wrote {out}: {len(files)} files, {steps[0]}..{steps[-1]}, grading seed {seed}; upload it as the "
          "assignment's autograder (Gradescope: Configure Autograder, zip file upload)")
    return 0


def cmd_notebooks(args) -> int:
    return instructor_builder().main(["--check"] if args.check else [])


def cmd_stubs(args) -> int:
    if not (REPO / "solutions").is_dir():
        raise CommandError("stubs are generated from solutions/, which this student copy does not have")
    if args.check:
        stale = stale_stubs(REPO)
        for path in stale:
            print(f"stale: {path.relative_to(REPO)}")
        return 1 if stale else 0
    for path in write_stubs(REPO):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


def cmd_demo(args) -> int:
    from course.demo import main as demo_main

    return demo_main()


def cmd_train(args) -> int:
    import torch

    from course import runs

    runs.require_steps(runs.COMMON_STEPS + runs.MODEL_STEPS[args.model], "course train", args.solutions)
    device = runs.pick_device(args.device)
    overrides = {"steps": args.steps, "max_lr": args.lr, "n_layer": args.n_layer, "n_head": args.n_head,
                 "n_embd": args.n_embd, "block_size": args.block_size, "batch_size": args.batch_size,
                 "dropout": args.dropout, "grad_clip": args.grad_clip, "seed": args.seed}
    out = Path(args.out) if args.out else REPO / "runs" / f"{args.model}-{Path(args.data).stem}"
    summary = runs.train_run(args.model, args.data, args.preset, overrides, out, use_solutions=args.solutions,
                             device=device, resume=args.resume, progress=not args.quiet)
    final = summary["final"]
    print(f"{summary['steps']} steps in {summary['seconds']:.1f} s ({summary['tokens_per_second']:,.0f} tokens/s)")
    if final:
        print(f"val loss {final['val_loss']:.4f}, perplexity {final['perplexity']:.2f}, "
              f"{final['bits_per_token']:.3f} bits per character")
    print(f"checkpoint: {summary['checkpoint']}\nmetrics:    {summary['metrics']}\nloss curve: {summary['plot']}")
    run = runs.load_run(summary["checkpoint"], args.solutions)
    if args.sample_chars > 0:
        print("\nsample (temperature 1):")
        characters = run.checkpoint["extra"]["tokenizer"]["characters"]
        prompt = runs.encode_prompt(run, "\n" if "\n" in characters else characters[0])
        ids = run.model.generate(prompt, args.sample_chars, generator=torch.Generator().manual_seed(0))
        print(run.tokenizer.decode(ids[0].tolist()))
    example = {"shakespeare": "ROMEO:", "tinystories": "Once upon a time", "abab": "ab"}.get(
        run.checkpoint["extra"]["data"], "The")
    print(f"\nsample more: course sample --checkpoint {summary['checkpoint']} --prompt \"{example}\"")
    return 0


def cmd_sample(args) -> int:
    from course import runs

    runs.require_steps(["step01", "step09", "step10"], "course sample", args.solutions)
    if args.max_new_tokens < 0:
        raise CommandError("--max-new-tokens must be >= 0")
    run = runs.load_run(args.checkpoint, args.solutions)
    for index in range(args.num_samples):
        text = runs.sample_text(run, args.prompt, args.max_new_tokens, temperature=args.temperature,
                                top_k=args.top_k, top_p=args.top_p, seed=args.seed + index,
                                use_solutions=args.solutions)
        if args.num_samples > 1:
            print(f"--- sample {index + 1} (seed {args.seed + index})")
        print(text)
    return 0


def cmd_attention(args) -> int:
    from course import inspection, runs

    runs.require_steps(["step01", "step09"], "course attention", args.solutions)
    run = runs.load_run(args.checkpoint, args.solutions)
    idx = runs.encode_prompt(run, args.text)[:, -run.block_size:]
    maps = inspection.attention_maps(run.model, idx)  # (n_layer, n_head, T, T)
    labels = [inspection.show(ch) for ch in run.tokenizer.decode(idx[0].tolist())]
    out = Path(args.out) if args.out else Path(args.checkpoint).with_name("attention.png")
    inspection.plot_attention(maps, labels, out, f"attention on {run.tokenizer.decode(idx[0].tolist())!r}")
    n_layer, n_head, T, _ = maps.shape
    future = float(maps.triu(diagonal=1).abs().max())
    print(f"{n_layer} layers x {n_head} heads, {T} x {T} each (rows: queries, columns: keys); "
          f"largest weight above the diagonal: {future:.1e} (0: causal)")
    print(f"written to {out}")
    return 0


def cmd_trace(args) -> int:
    from course import inspection, runs

    runs.require_steps(["step01", "step09"], "course trace", args.solutions)
    run = runs.load_run(args.checkpoint, args.solutions)
    idx = runs.encode_prompt(run, args.text)[:, -run.block_size:]
    text = run.tokenizer.decode(idx[0].tolist())
    print(f"a {run.kind} model, following {text!r} through it:\n")
    print("\n".join(inspection.trace(run.model, run.tokenizer, text, idx)))
    return 0


def cmd_compare(args) -> int:
    from course import runs

    runs.require_steps(runs.COMMON_STEPS + runs.MODEL_STEPS["mlp"] + runs.MODEL_STEPS["transformer"] + ["step10"],
                       "course compare", args.solutions)
    device = runs.pick_device(args.device)
    out = Path(args.out) if args.out else REPO / "runs" / f"compare-{Path(args.data).stem}"
    overrides = {"steps": args.steps, "seed": args.seed}
    rows = []
    for kind in ("mlp", "transformer"):
        rows += runs.run_variants({kind: {}}, kind, args.data, args.preset, overrides, out,
                                  use_solutions=args.solutions, device=device, progress=not args.quiet)
    runs.plot_losses(out / "compare.png", {row["label"]: row["curve"] for row in rows},
                     f"MLP LM vs transformer on {Path(args.data).stem}")
    samples = {}
    for row in rows:
        if row["summary"] is None:
            raise CommandError(f"the {row['label']} run diverged: {row['diverged']}")
        run = runs.load_run(row["summary"]["checkpoint"], args.solutions)
        samples[row["label"]] = runs.sample_text(run, args.prompt, args.max_new_tokens, seed=args.seed or 0,
                                                 temperature=args.temperature, use_solutions=args.solutions)
    print()
    print(runs.variants_table(rows))
    print("\n" + runs.side_by_side(samples, width=args.width))
    print(f"\nloss curves: {out / 'compare.png'}")
    return 0


def cmd_experiment(args) -> int:
    from course import runs

    runs.require_steps(runs.COMMON_STEPS + runs.MODEL_STEPS["transformer"], "course experiment", args.solutions)
    device = runs.pick_device(args.device)
    overrides = {"steps": args.steps, "seed": args.seed}
    base = runs.settings_for(args.preset, overrides)
    description, make_variants = runs.EXPERIMENTS[args.name]
    out = Path(args.out) if args.out else REPO / "runs" / f"experiment-{args.name}"
    print(f"experiment {args.name}: {description}, transformer on {args.data}, preset {args.preset}")
    rows = runs.run_variants(make_variants(base), "transformer", args.data, args.preset, overrides, out,
                             use_solutions=args.solutions, device=device, progress=not args.quiet)
    runs.plot_losses(out / f"{args.name}.png", {row["label"]: row["curve"] for row in rows},
                     f"experiment {args.name}: {description}")
    print()
    print(runs.variants_table(rows))
    print(f"\nall loss curves on one plot: {out / f'{args.name}.png'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="Build a GPT from scratch: train, sample, grade.")
    sub = parser.add_subparsers(dest="command", required=True)

    status = sub.add_parser("status", help="your points per step")
    status.add_argument("--solutions", action="store_true", help="grade the reference solutions (instructors)")
    status.add_argument("--in-process", action="store_true", help="run student code inside pytest")
    status.add_argument("--fresh", action="store_true", help="grade every step again, even unchanged ones")
    status.set_defaults(run=cmd_status)

    def uses_code(command):
        command.add_argument("--solutions", action="store_true",
                             help="run the reference solutions instead of your exercises/ (instructor copy)")

    train = sub.add_parser("train", help="train your model on a corpus; writes a checkpoint, metrics and a plot")
    train.add_argument("--model", choices=["bigram", "mlp", "transformer"], default="transformer")
    train.add_argument("--data", default="shakespeare",
                       help="shakespeare, stories (generated TinyStories-style text), abab, or a UTF-8 text file")
    train.add_argument("--preset", default="small",
                       help="tiny, small, shakespeare-cpu or nanogpt-cpu (the settings of a run)")
    train.add_argument("--steps", type=int, help="optimiser steps (overrides the preset)")
    train.add_argument("--lr", type=float, help="peak learning rate; the schedule decays to a tenth of it")
    for name in ("n-layer", "n-head", "n-embd", "block-size", "batch-size", "seed"):
        train.add_argument(f"--{name}", type=int)
    train.add_argument("--dropout", type=float)
    train.add_argument("--grad-clip", type=float, help="largest global gradient norm; 0 turns clipping off")
    train.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu or cuda")
    train.add_argument("--out", help="folder for the run's files (default: runs/MODEL-DATA)")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--sample-chars", type=int, default=200, help="characters to sample at the end (0: none)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    uses_code(train)
    train.set_defaults(run=cmd_train)

    sample = sub.add_parser("sample", help="generate text from a checkpoint")
    sample.add_argument("--checkpoint", required=True)
    sample.add_argument("--prompt", default="\n")
    sample.add_argument("--max-new-tokens", type=int, default=500)
    sample.add_argument("--temperature", type=float, default=1.0, help="0: greedy")
    sample.add_argument("--top-k", type=int)
    sample.add_argument("--top-p", type=float)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--num-samples", type=int, default=1)
    uses_code(sample)
    sample.set_defaults(run=cmd_sample)

    attention = sub.add_parser("attention", help="heatmaps of every head's attention on a text (a PNG grid)")
    attention.add_argument("--checkpoint", required=True)
    attention.add_argument("--text", required=True, help="the input (characters of the training text)")
    attention.add_argument("--out", help="the PNG to write (default: attention.png next to the checkpoint)")
    uses_code(attention)
    attention.set_defaults(run=cmd_attention)

    trace = sub.add_parser("trace", help="follow one input through the model, stage by stage")
    trace.add_argument("--checkpoint", required=True)
    trace.add_argument("--text", required=True)
    uses_code(trace)
    trace.set_defaults(run=cmd_trace)

    def run_options(command, data_default):
        command.add_argument("--data", default=data_default, help="shakespeare, stories, abab or a text file")
        command.add_argument("--preset", default="small")
        command.add_argument("--steps", type=int, help="optimiser steps per run (overrides the preset)")
        command.add_argument("--seed", type=int)
        command.add_argument("--device", default="auto")
        command.add_argument("--out", help="folder for the runs (default: runs/...)")
        command.add_argument("--quiet", action="store_true", help="no progress bars")
        uses_code(command)

    compare = sub.add_parser("compare", help="the MLP LM and the transformer on the same data, side by side")
    run_options(compare, "stories")
    compare.add_argument("--prompt", default="Once upon a time")
    compare.add_argument("--max-new-tokens", type=int, default=300)
    compare.add_argument("--temperature", type=float, default=0.8)
    compare.add_argument("--width", type=int, default=48, help="characters per column")
    compare.set_defaults(run=cmd_compare)

    experiment = sub.add_parser("experiment", help="a modification experiment: all runs' curves on one plot")
    experiment.add_argument("name", choices=["n_embd", "n_layer", "gelu", "lr"])
    run_options(experiment, "shakespeare")
    experiment.set_defaults(run=cmd_experiment)

    demo = sub.add_parser("demo", help="run the demo")
    demo.set_defaults(run=cmd_demo)

    release = sub.add_parser("release", help="write the student copy, without solutions (instructors)")
    release.add_argument("--out", required=True, help="folder to write it to")
    release.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    release.set_defaults(run=cmd_release)

    stubs = sub.add_parser("stubs", help="regenerate the stubs in exercises/ from solutions/ (instructors)")
    stubs.add_argument("--check", action="store_true", help="only report stale stubs (exit 1 if any)")
    stubs.set_defaults(run=cmd_stubs)

    grade = sub.add_parser("grade", help="grade a folder of submissions into a gradebook (instructors)")
    grade.add_argument("submissions", help="a folder with one folder or .zip per student, named by the student's id")
    grade.add_argument("--out", required=True, help="where grades.csv, feedback/ and summary.md go")
    grade.add_argument("--steps", help="e.g. step00-step11 or step03,step05 (default: every step)")
    grade.add_argument("--jobs", type=int, default=2, help="students graded at once (default 2)")
    grade.add_argument("--timeout", type=float, default=600.0, help="seconds for one student, all steps (default 600)")
    grade.add_argument("--call-timeout", type=float, default=10.0, help="seconds per call into student code")
    grade.add_argument("--memory", type=int, default=4096, help="MB of memory for a student's worker (default 4096)")
    grade.add_argument("--seed", type=int, help="the grading seed (default: chosen for the batch, and recorded)")
    grade.add_argument("--force", action="store_true", help="grade again the students an earlier run graded")
    grade.add_argument("--no-isolation", action="store_true",
                       help="grade without bubblewrap (where it cannot run); the summary says so")
    grade.add_argument("--nbgrader-csv", metavar="FILE", help="merge nbgrader's export CSV: a column per notebook")
    grade.set_defaults(run=cmd_grade)

    bundle = sub.add_parser("gradescope-bundle", help="build a Gradescope autograder zip (instructors)")
    bundle.add_argument("--out", required=True, help="the zip to write, e.g. autograder.zip")
    bundle.add_argument("--steps", help="e.g. step00-step11 (default: every step)")
    bundle.add_argument("--seed", type=int, help="the grading seed (default: a new one, recorded in the bundle)")
    bundle.set_defaults(run=cmd_gradescope_bundle)

    notebooks = sub.add_parser("notebooks", help="rebuild the nbgrader source notebooks and README blocks (instructors)")
    notebooks.add_argument("--check", action="store_true", help="only report out-of-date files (exit 1 if any)")
    notebooks.set_defaults(run=cmd_notebooks)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except NotImplementedError as err:
        print(f"course {args.command}: a piece it needs is not implemented yet ({err}); "
              "run `course status` to see which step", file=sys.stderr)
        return 2
    except (CommandError, CorpusError, ValueError, OSError) as err:
        print(f"course {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ncourse {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
