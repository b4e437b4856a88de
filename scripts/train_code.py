"""Train notebook 10's code GPT on the Python standard library's own source and record it.

    python scripts/train_code.py                       # 60 minutes on one CPU core (resumable: run it again)
    python scripts/train_code.py --minutes 2 --no-register --out /tmp/code   # a quick try

The corpus is read at run time from the running interpreter (genlib.data.code_corpus: 90% of the stdlib's
files by a fixed hash of their path, the rest for validation), never copied into the repo. --tests adds the
stdlib's own test suite to the training text where the install has it (2.6x the text on CPython 3.11); validation
stays on the library files the notebook measures. The shipped model trained without it: a 100-minute run with it
(on a machine shared with two other trainings: 2,727 steps) scored worse on the library's validation files
(2.3356 against 2.2471 nats per token; 23.5% against 32% of samples parse). A byte-level BPE
tokenizer (2,048 ids) is trained on it first and saved beside the weights, since another Python version's
stdlib would give other merges. The GPT (4 layers, 256 wide, context 256 tokens) trains with the course's
recipe (Muon, warm-up/stable/decay); its state is saved to build/ every 5 minutes, so an interrupted run
resumes. The manifest records the validation loss, the corpus digest and the parse rate of 200 samples.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import sysconfig
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.checkpoints import checkpoint_dir, register, save_weights  # noqa: E402
from genlib.data.code_corpus import corpus_digest, stdlib_sources  # noqa: E402
from genlib.device import seed_everything  # noqa: E402
from genlib.text import codegen  # noqa: E402
from genlib.text.align import merges_digest  # noqa: E402
from genlib.text.bpe import BPETokenizer  # noqa: E402
from genlib.text.gpt import GPT  # noqa: E402
from genlib.text.lm import evaluate_loss, sequential_batches  # noqa: E402
from genlib.text.pretrain import Recipe, pretrain  # noqa: E402

RECIPE = Recipe(batch_size=16, block_size=codegen.CONFIG.block_size, lr=3e-3, muon_lr=1e-2, optimizer="muon",
                schedule="wsd", cooldown=0.4, min_lr_ratio=0.0, warmup=0.02)
MINUTES = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=MINUTES)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="folder for weights and tokenizer (default checkpoints/)")
    parser.add_argument("--no-register", action="store_true")
    parser.add_argument("--tests", action="store_true", help="also train on the stdlib's test suite (Lib/test)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or checkpoint_dir()
    out.mkdir(parents=True, exist_ok=True)
    state = ROOT / "build" / "code_gpt"
    state.mkdir(parents=True, exist_ok=True)
    train_text, val_text = stdlib_sources("train", tests=args.tests), stdlib_sources("val")
    tok_path = state / codegen.TOKENIZER_FILE
    if tok_path.exists():  # a resumed run keeps the tokenizer it started with
        tok = BPETokenizer.load(tok_path)
    else:
        tok = codegen.train_tokenizer(train_text)
        tok.save(tok_path)
    train_ids = torch.tensor(tok.encode(train_text, allow_special=False))
    val_ids = torch.tensor(tok.encode(val_text, allow_special=False))
    print(f"stdlib {sysconfig.get_python_version()} (digest {corpus_digest(train_text)}): {len(train_ids):,} train "
          f"and {len(val_ids):,} val tokens, vocabulary {tok.vocab_size}", flush=True)
    seed_everything(0)
    model = GPT(codegen.CONFIG)
    probe = sequential_batches(val_ids, codegen.CONFIG.block_size, 32)[:4]
    hist = pretrain(model, train_ids, RECIPE, seconds=60 * args.minutes, seed=0, eval_every=500,
                    eval_fn=lambda m: {"val_loss_probe": round(evaluate_loss(m, probe), 4)},
                    state_path=state / "state.pt", desc="code GPT")
    model.eval()
    val_loss = evaluate_loss(model, sequential_batches(val_ids, codegen.CONFIG.block_size, 32))
    samples = codegen.sample_functions(model, tok, 200, temperature=0.8)
    parse_rate = sum(codegen.parses(s) for s, _ in samples) / len(samples)
    print(f"{len(hist.steps)} steps in {hist.seconds:.0f} s; val loss {val_loss:.4f} nats/token; "
          f"{parse_rate:.0%} of 200 samples at T=0.8 parse", flush=True)
    path = out / f"{codegen.CHECKPOINT}.pt"
    save_weights(model, path)
    if out.resolve() != state.resolve():
        shutil.copyfile(tok_path, out / codegen.TOKENIZER_FILE)
    if not args.no_register:
        register(codegen.CHECKPOINT, path, script="scripts/train_code.py",
                 settings={"config": asdict(codegen.CONFIG), "recipe": asdict(RECIPE), "minutes": args.minutes,
                           "python": sysconfig.get_python_version(), "corpus_digest": corpus_digest(train_text),
                           "stdlib_tests": args.tests, "tokenizer": codegen.TOKENIZER_FILE,
                           "tokenizer_merges_sha": merges_digest(tok),
                           "threads": torch.get_num_threads()},
                 metric={"name": "val_loss", "value": round(val_loss, 4), "unit": "nats per token",
                         "parse_rate_t0.8_n200": parse_rate, "train_tokens": len(train_ids)},
                 train_seconds=round(hist.seconds, 1), steps=len(hist.steps), params=model.num_params(),
                 loss_curve=[round(x, 3) for x in hist.loss[::max(1, len(hist.loss) // 200)]],
                 torch=torch.__version__)


if __name__ == "__main__":
    main()
