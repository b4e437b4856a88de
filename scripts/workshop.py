"""Workshop mode: student copies of every notebook, a teacher guide, and the repository URL in one place.

    python scripts/workshop.py --out workshop/      # student copies of notebooks/*.ipynb (or name some)
    python scripts/workshop.py --guide              # regenerate docs/teacher_guide.md
    python scripts/workshop.py --sync-repo-url      # after changing genlib.colab.REPO_URL (a fork)

The notebooks stay the one source. Their cells carry tags: the collapsed solutions are tagged "solution", each
exercise's prompt and its code cell "exercise". A student copy is made by nbconvert's own preprocessors:
TagRemovePreprocessor drops the solution cells, BlankExercises (below) leaves each exercise code cell only its
leading comment (what to write), ClearOutputPreprocessor and ClearMetadataPreprocessor clear every output and
execution record. The teacher guide is made from the same cells (objectives and estimated time from the first
cell, exercises and answers from the tagged ones), the README's measured run times, and STUCK below, the one
hand-written part. tests/test_workshop.py runs every student copy top to bottom and checks that the guide and the
README's Colab links are current.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.preprocessors import (ClearMetadataPreprocessor, ClearOutputPreprocessor, Preprocessor,
                                     TagRemovePreprocessor)
from traitlets import Unicode
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # genlib from this checkout, even without `pip install -e .`
from genlib.colab import REPO_URL, bootstrap_cell, colab_link  # noqa: E402

SOLUTION, EXERCISE = "solution", "exercise"
GUIDE = ROOT / "docs" / "teacher_guide.md"
NOTEBOOKS = ROOT / "notebooks"
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+?/notebooks/([0-9]{2}_[a-z0-9_]+\.ipynb)")

# Where learners usually get stuck, per notebook: the one part of the guide written by hand.
STUCK: dict[str, list[str]] = {
    "00": [
        "`GENLIB_SCALE` is read each time `scale()` or `pick()` is called, so setting `os.environ[\"GENLIB_SCALE\"]` in "
        "a cell works without restarting; learners who set it to `huge` then get a `ValueError` from every later "
        "`pick()` until they `os.environ.pop(\"GENLIB_SCALE\")`.",
        "The set-up cell does nothing outside Colab; learners who run a notebook from another folder than `notebooks/` "
        "(or without `pip install -e .`) get `ModuleNotFoundError: genlib`: start JupyterLab with the README's command.",
        "Exercise 2: `counts[a, b] += 1` with index tensors counts a repeated pair once; the notebook's "
        "`index_put_(..., accumulate=True)` is what adds up repeats, and the trigram needs it with three index tensors.",
    ],
    "01": [
        "Log-likelihoods here are mostly negative and *higher is better*; learners read the histogram figure "
        "(training score rising, held-out score peaking then collapsing) the wrong way round.",
        "Temperature acts in two places for a mixture (component weights to the power 1/T, covariances times T); "
        "learners who only scale the covariances see much less effect than the notebook's table.",
        "Section 5's distances are to the *nearest training point*: small is suspicious (copying), not good. Ask what "
        "distance real held-out data has before judging the samples' distance.",
    ],
    "02": [
        "Gradients accumulate (`+=`) in `Value` and in PyTorch: forgetting `p.grad = 0.0` (or `opt.zero_grad()`) "
        "before `backward()` doubles them and the sine fit diverges.",
        "Exercise 1: `relu`'s backward must use `+=` and be attached with `out._backward = backward`; "
        "`Value.relu = relu` after the class is how to add it without re-running the class cell.",
        "Section 5's run at learning rate 5.0 stops with a `FloatingPointError` from `genlib.train` (the cell "
        "catches it to record the divergence); learners who copy the loop without the `try` think the course broke.",
    ],
    "03": [
        "`N2[a, b] += 1` with index tensors drops repeated pairs; the counts need "
        "`index_put_(..., accumulate=True)` (the hand-built table then matches `NGramLM`).",
        "The best n-gram by validation loss (the 5-gram) writes the worst text: learners expect likelihood and "
        "sample quality to agree. The unseen-context share of the samples is the explanation.",
        "Exercise 1: `set_alpha` changes the model in place; learners who forget to restore `best_alpha[5]` change "
        "every later number. Exercise 2 must mix probabilities (logsumexp of log p + log λ), not average log-probs.",
    ],
    "04": [
        "`len(s)` counts code points, not bytes or visible characters: the thumbs-up with a skin tone is two code "
        "points and eight bytes, and bytes per token is computed with `len(s.encode())`.",
        "A word with and without its leading space are different tokens (`\" king\"` vs `\"king\"`): counts in "
        "exercise 1 and the number patterns in exercise 2 change if the space is dropped (the notebook encodes `f\" {x}\"`).",
        "Exercise 2: `GPT2_SPLIT_PATTERN.replace(r\" ?\\d+\", rule)` silently does nothing if the string does not match "
        "exactly (use raw strings); check the new pattern differs before training.",
    ],
    "05": [
        "Two mask conventions: `masked_fill(future, -inf)` takes True = hide, while `attention(..., mask=...)` "
        "(like `F.scaled_dot_product_attention`'s boolean mask) takes True = may attend. Exercise 2's window mask "
        "is True for the keys a query keeps.",
        "Shapes: attention works on [..., T, d] with the time axis second to last; multi-head code that splits "
        "heads with `view` without the `transpose(1, 2)` runs but mixes time and heads.",
        "Without the causal mask the two \"the\"s get identical outputs, with it they differ: learners conclude the "
        "mask gives positions. Exercise 3 is about exactly this; keep the distinction for section 4.",
    ],
    "06": [
        "The race is at equal *tokens*, not seconds: the printed seconds change with the machine's load, the "
        "losses do not. Learners compare the seconds.",
        "Exercise 2: `pos` and `norm` are fields of the model config (`GPTConfig`), not of the recipe; "
        "`dataclasses.replace(config, ...)` on the config returned by `project_recipe()`, then rerun the race cell.",
        "If the shipped checkpoint is missing the notebook falls back to the race winner, so the loss table and the "
        "samples differ from the prose; section 4's cell prints which model it loaded.",
    ],
    "07": [
        "Filters work on *logits* (setting dropped tokens to -inf), not on probabilities; applying softmax first "
        "and then a -inf filter, or keeping one token too few in top-p (the token that crosses p is kept), are "
        "the two usual bugs in the hand-written versions.",
        "Exercise 2: `generate` applies the repetition penalty, temperature, top-k and top-p *before* "
        "`logits_filter`, so min-p cuts relative to the tempered distribution (`help(generate)` states the order).",
        "The sliders need a live kernel and the ipywidgets front end; on GitHub or with `GENLIB_STATIC=1` they show "
        "one static figure at the default values, which learners take for a broken slider.",
    ],
    "08": [
        "The SFT mask lines up with the *targets*: `mask[:, 1:]` weights the prediction of token t+1. Using "
        "`mask[:, :-1]` runs, gives a plausible loss, and trains the model to predict the token after each answer token; "
        "the `assert_close` against `align.sft_loss` in section 4 is there to catch it.",
        "DPO's reference must be the frozen SFT copy: a hand-written loss that takes the reference log-probabilities "
        "from the policy itself gives a margin of 0, a loss of log 2 = 0.693 at every step and no gradient, with no error.",
        "GRPO's advantage divides by the group's standard deviation: a group that is all right or all wrong has std 0, "
        "and a hand-written version without the small constant gives NaN (`align.group_advantages` adds 1e-4).",
    ],
    "09": [
        "Equal training *tokens*, not equal problems: learners who give every format the same number of problems per "
        "step hand the scratchpad model several times more tokens; `ar.batch(rng, fmt, tokens=...)` keeps the race fair.",
        "Decoding the tool model with plain `generate` shows it closing the call and stopping (`</calc>;`): it was never "
        "trained to write the result (mask 0), so only `generate_with_calculator`, which feeds the result in, works.",
        "`extend_context` changes a model in place and keeps its RoPE scaling; reusing one model object for the plain, "
        "interpolation and NTK runs mixes them up. The notebook's `fresh()` reloads the trained weights each time.",
    ],
    "10": [
        "A task prompt that ends in a newline gets an empty body back (the model ends the function at once): in the "
        "training text a newline and the next line's indentation are one token, so a bare '\\n' token is rare. Strip "
        "it, as `complete()` does.",
        "The sandbox sets HOME to its throw-away folder, so a sample that writes to `~/x` stays inside it and is *not* "
        "blocked; to see the block, write to a full path outside the folder (the notebook uses the parent of notebooks/).",
        "pass@k with k > n raises: draw at least k samples per task (the notebook draws 20 for pass@10).",
    ],
    "11": [
        "The encoder returns the log-variance: σ = exp(0.5 · logvar). Using exp(logvar) as σ still trains, "
        "with a wrong KL, and the hand-written ELBO no longer matches `V.elbo`.",
        "Exercise 2: the decoder must output *logits* (no final Sigmoid), because the loss is "
        "`binary_cross_entropy_with_logits`; a Sigmoid at the end trains to grey blobs.",
        "Our FIDs (18 to thousands) are not on the published scale: they use the course classifier's 128 features "
        "and N = 1,000; compare only with the same features, reference and N, and with the real floor beside them.",
    ],
    "12": [
        "The discriminator step must see `fake.detach()`: without it D's loss also sends gradients into G (and a "
        "second `backward` through the same fakes fails), so hand-written steps stop matching `gan.gan_step`.",
        "Pixels are in [-1, 1] (`real = x_train * 2 - 1`, G ends in tanh); a learner who feeds [0, 1] digits to D, or "
        "shows G's output without mapping it back, gets a D that wins on brightness alone or washed-out pictures.",
        "The losses never settle and G's loss *rises* at first: that is the game, not a bug. Quality is read from the "
        "samples and FID beside the real floor, which is why exercise 3 asks what to watch instead.",
    ],
    "13": [
        "Indices start at 0: ᾱ_t = α_0 ⋯ α_t and `alphas_cumprod[t]` is x_t's, while papers count t from 1; "
        "exercise answers computed by hand from the paper's formulas are off by one step.",
        "`sqrt(ᾱ_t)` scales the *amplitude* and `1 − ᾱ_t` is the noise *variance*: learners mix the two and "
        "forget the square roots in `q_sample`.",
        "Exercise 1: `diffusion.snr` takes alpha-bar, not the betas; passing `betas` gives an SNR below 1 "
        "everywhere and a crossing at t = 0.",
    ],
    "14": [
        "The shipped network predicts v, not ε: it is wrapped to give ε before the sampler sees it. Plugging the raw "
        "network into `ddpm_sample` gives noise.",
        "`ddpm_sample` calls the global `ddpm_step`, so exercise 2's redefinition changes every later call; run the "
        "original cell again (or rename the new step) before comparing.",
        "Exercise 1: `kept[t]` is a pair (x_t, predicted x_0), so the digit is `kept[t][1]`; at large t the "
        "prediction lies far outside [-1, 1] and must be clamped before it is compared with the samples.",
    ],
    "15": [
        "Two views of the same noisy image: x_t = sqrt(ᾱ) x_0 + sqrt(1 − ᾱ) ε and x = x_0 + σ ε with "
        "x = x_t / sqrt(ᾱ). Mixing them (forgetting the scale at the start or the end) gives washed-out samples.",
        "A sigma grid ends with 0, and the last step must not divide by σ = 0: that is why Heun with 10 steps makes "
        "19 calls (exercise 1), and why hand-written solvers fail on their final step.",
        "FID at small N is noisy: differences below the spread of real-digit subsets (section 8) are not rankings; "
        "learners rank samplers by gaps of a few FID points.",
    ],
    "16": [
        "The 'no label' class of the MNIST model is 10 (num_classes), not 0: 0 is the digit zero. Passing null=0 "
        "guides towards 'not a zero' and gives strange digits without an error.",
        "w = 1 is the plain conditional model and w = 0 the unconditional one; 'guidance off' in image tools means "
        "w = 1. Learners expect w = 0 to be the conditional model.",
        "Captions must use the grammar's words in the grammar's order ('a small red circle on the left'); "
        "encode_captions and parse_caption name the words they accept.",
    ],
    "17": [
        "The denoiser works on scaled latents (codec.encode multiplies by codec.scale); decoding a latent made by "
        "hand without that scale gives washed-out or saturated digits. Use codec.encode and codec.decode both ways.",
        "sample_images is for pixel models; for latents use latent_samples (or samplers.sample with the latent's "
        "shape, then codec.decode). codec.decode snaps to the codebook unless snap=False, which scores worse here.",
        "The FLOP counts are for one image; per sample multiply the network's count by the steps and add the "
        "decoder once. Timings in the notebook vary with the machine; the counts do not.",
    ],
    "18": [
        "sdedit and inpaint take images in [-1, 1] (x * 2 - 1), like the samplers; passing [0, 1] pixels works "
        "without an error but edits a washed-out picture.",
        "Strength 0.3 does not mean 30% of the steps are new: it jumps to timestep 300 of 1000 and walks back "
        "with round(0.3 * steps) steps.",
        "Controlled needs the U-Net itself (t2i.denoiser.net), not the noise-predicting wrapper; wrap the result "
        "in EpsFromEDM for the samplers, as with_edges does.",
    ],
    "19": [
        "Flow time runs from noise (t = 0) to data (t = 1), the opposite of diffusion's timestep; TimeScaled "
        "multiplies t by 1000 for networks built for diffusion timesteps.",
        "Heun with n steps costs 2n network evaluations: compare solvers at equal evaluations, not equal steps.",
        "Reflow needs the model's own (noise, sample) pairs from the same noise; pairing fresh noise with the "
        "samples undoes the straightening.",
    ],
}


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def leading_comment(source: str) -> str:
    """The comment lines a cell starts with: an exercise cell's statement of what to write."""
    lines = []
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


class BlankExercises(Preprocessor):
    """Leave each code cell tagged `exercise` only its leading comment: the task, never code that answers it."""

    tag = Unicode(EXERCISE, help="the cell tag that marks an exercise").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and self.tag in tags(cell):
            comment = leading_comment(cell.source)
            if not comment:
                name = resources.get("metadata", {}).get("name", "a notebook")
                raise ValueError(f"exercise cell {index} of {name} does not start with a comment saying what to "
                                 "write: begin it with '# Exercise N: ...'")
            cell.source = comment + "\n"
        return cell, resources


def student_exporter() -> NotebookExporter:
    """nbconvert's notebook-to-notebook exporter with the preprocessors that make a student copy."""
    c = Config()
    c.TagRemovePreprocessor.remove_cell_tags = {SOLUTION}
    c.ClearMetadataPreprocessor.preserve_cell_metadata_mask = {"tags"}  # drop execution timings, keep the tags
    c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {"kernelspec", "language_info"}
    exporter = NotebookExporter(config=c)
    exporter.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    exporter.register_preprocessor(BlankExercises(config=c), enabled=True)
    exporter.register_preprocessor(ClearOutputPreprocessor(config=c), enabled=True)
    exporter.register_preprocessor(ClearMetadataPreprocessor(config=c), enabled=True)
    return exporter


def write_student_copies(out: Path, paths: list[Path]) -> list[Path]:
    """Write the student copy of each notebook into `out`, under the same name; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    exporter, written = student_exporter(), []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if not any(SOLUTION in tags(c) for c in nb.cells):
            raise ValueError(f"{path.name} has no cell tagged '{SOLUTION}': tag its solutions cell (in the jupytext "
                             f"twin: `# %% [markdown] tags=[\"{SOLUTION}\"]`) and run `jupytext --sync`")
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        (out / path.name).write_text(body)
        written.append(out / path.name)
    return written


# ---- the teacher guide ---------------------------------------------------------------------------------------

def readme_run_times(readme: str) -> dict[str, str]:
    """Notebook number -> its measured CPU run time, from the README's table of notebooks."""
    rows = [line.split("|")[1:-1] for line in readme.splitlines() if line.startswith("| ")]
    header = next((r for r in rows if any(c.strip() == "CPU run time" for c in r)), None)
    if header is None:
        raise ValueError("the README's notebook table has no 'CPU run time' column: the guide reads run times there")
    col = [c.strip() for c in header].index("CPU run time")
    return {r[0].strip(): r[col].strip() for r in rows if re.fullmatch(r"\d\d", r[0].strip())}


def _paragraph(first_cell: str, label: str, name: str) -> str:
    for para in first_cell.split("\n\n"):
        if para.startswith(f"**{label}.**"):
            return para[len(f"**{label}.**"):].strip()
    raise ValueError(f"the first cell of {name} has no '**{label}.**' paragraph, which the teacher guide quotes")


def _solutions(cells) -> str:
    text = "\n\n".join(c.source for c in cells if SOLUTION in tags(c)).strip()
    text = re.sub(r"^<details><summary>[^<]*</summary>\s*", "", text)
    return re.sub(r"\s*</details>$", "", text)


def notebook_section(path: Path, run_time: str) -> tuple[str, str]:
    """One notebook's part of the guide, and its row in the overview table."""
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source
    title = first.splitlines()[0].lstrip("# ").strip()
    number = path.name[:2]
    stuck = STUCK.get(number)
    if not stuck:
        raise ValueError(f"STUCK in scripts/workshop.py has no entry for notebook {number}: write the two or three "
                         "places learners get stuck in it")
    objectives = _paragraph(first, "Learning objectives", path.name)
    estimate = _paragraph(first, "Estimated time", path.name)
    prompts = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown" and EXERCISE in tags(c))
    prompts = re.sub(r"^## Exercises\s*", "", prompts)
    parts = [
        f"## {title}",
        f"[`notebooks/{path.name}`](../notebooks/{path.name}) · measured CPU run time **{run_time}** (README) · "
        f"estimated teaching time: {estimate}",
        f"### Objectives\n\n{objectives}",
        "### Where learners get stuck\n\n" + "\n".join(f"- {s}" for s in stuck),
        f"### Exercises\n\n{prompts}",
        f"### Answers\n\n{_solutions(nb.cells)}",
    ]
    row = f"| {number} | [{title.split('·', 1)[-1].strip()}](#{_anchor(title)}) | {run_time} | {estimate.split(';')[0]} |"
    return "\n\n".join(parts), row


def _anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def teacher_guide(paths: list[Path], readme: str) -> str:
    """The whole guide, as Markdown."""
    times = readme_run_times(readme)
    sections, rows = [], []
    for path in paths:
        if path.name[:2] not in times:
            raise ValueError(f"the README's notebook table has no row for {path.name}: add it with its measured run time")
        section, row = notebook_section(path, times[path.name[:2]])
        sections.append(section)
        rows.append(row)
    intro = f"""# Teacher guide

*Generated by `python scripts/workshop.py --guide` from the notebooks, the README's table and `STUCK` in
`scripts/workshop.py`: edit those, not this file.*

**Running a workshop.** `python scripts/workshop.py --out workshop/` writes a student copy of every notebook into
`workshop/`: the solutions removed, each exercise left as an empty code cell with a comment saying what to write,
no outputs. Hand those out; keep this guide and the full notebooks (`notebooks/`) for yourself. Every copy runs top
to bottom as it is (a test checks it), so learners can Restart & Run All first and then work on the exercises. On
Colab, learners open the README's links (the full notebooks, solutions collapsed) or upload a student copy.

Run times are Restart & Run All on a 2-core CPU (from the README); teaching time is the notebook's own estimate.

| # | notebook | CPU run time | teaching time |
|---|---|---|---|
""" + "\n".join(rows)
    return intro + "\n\n" + "\n\n".join(sections) + "\n"


# ---- one repository URL --------------------------------------------------------------------------------------

def readme_with_colab_links(readme: str, repo_url: str = REPO_URL) -> str:
    """The README with every "Open in Colab" link pointing at `repo_url`."""
    return COLAB_LINK.sub(lambda m: colab_link(m[1], repo_url), readme)


def sync_repo_url(root: Path = ROOT, repo_url: str = REPO_URL) -> list[Path]:
    """Rewrite the README's Colab links and every notebook's set-up cell (and its twin) for `repo_url`."""
    readme = root / "README.md"
    readme.write_text(readme_with_colab_links(readme.read_text(), repo_url))
    changed = [readme]
    cell = bootstrap_cell(repo_url)
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        if first.source != cell:
            first.source = cell
            nbformat.write(nb, path)
            subprocess.run([sys.executable, "-m", "jupytext", "--sync", str(path)], check=True, capture_output=True)
            changed.append(path)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks for --out (default: all in notebooks/)")
    parser.add_argument("--out", type=Path, help="folder for the student copies, e.g. workshop/")
    parser.add_argument("--guide", action="store_true", help=f"regenerate {GUIDE.relative_to(ROOT)}")
    parser.add_argument("--sync-repo-url", action="store_true",
                        help="point the README's Colab links and the notebooks' set-up cells at genlib.colab.REPO_URL")
    args = parser.parse_args()
    if not (args.out or args.guide or args.sync_repo_url):
        parser.error("say what to make: --out DIR, --guide or --sync-repo-url")
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.out:
        for p in write_student_copies(args.out, paths):
            print(f"wrote {p}")
    if args.guide:
        GUIDE.parent.mkdir(exist_ok=True)
        GUIDE.write_text(teacher_guide(sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), (ROOT / "README.md").read_text()))
        print(f"wrote {GUIDE.relative_to(ROOT)}")
    if args.sync_repo_url:
        for p in sync_repo_url():
            print(f"updated {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
