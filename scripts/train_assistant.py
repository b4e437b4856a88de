"""Train notebook 08's assistant, stage by stage, and record each model in checkpoints/manifest.json.

    python scripts/train_assistant.py                    # every stage (about 40 minutes on one CPU core)
    python scripts/train_assistant.py --stages sft,rm     # some stages (each loads the ones before it)
    python scripts/train_assistant.py --scale-steps 0.1 --no-register --out /tmp/assistant   # a quick try

Stages, each a few hundred steps of genlib.train.train on data made by genlib.data.tasks:
  base      pre-training on prose that holds the world's sums, spellings and fact sheets (no chat turns)
  sft       supervised fine-tuning on chat exchanges, loss on the assistant's tokens only; 40% of the
            demonstrations ramble ("Great question! ... the answer is 68.") as real demonstrators do
  rm        a reward model (the SFT GPT + a scalar head), Bradley-Terry on preference pairs
  dpo       DPO from the SFT model against a frozen copy of it, plus the SFT loss on the chosen answers (RPO),
            beta swept, the best by held-out reward-model win rate
  rl        GRPO on 3-digit sums with the reward "the answer is right", from the SFT model
  idk       SFT continued with unanswerable questions whose target is "I don't know."
  defended  SFT continued with prompt-injected fact sheets whose target ignores the injection
Every metric is measured on held-out tasks (unseen numbers, words and facts) and written to the manifest.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.checkpoints import checkpoint_dir, load_weights, register, round_weights, save_weights  # noqa: E402
from genlib.data import tasks as world  # noqa: E402
from genlib.device import seed_everything  # noqa: E402
from genlib.text import align  # noqa: E402
from genlib.text.assistant import (BASE_RECIPE, CONFIG, DPO_BETAS, DPO_SFT_WEIGHT, IDK_SHARE,  # noqa: E402
                                   RAMBLE_SHARE, RL_FAMILY, STEPS, finetune, implicit_reward_accuracy, new_model,
                                   pretrain_base, reward_accuracy, train_dpo, train_grpo, train_reward_model)
from genlib.text.evals import (attack_success, confident_wrong_rate, ramble_rate, report_card,  # noqa: E402
                               win_rate)

EVAL_N = 100


def save(name: str, model, out: Path, register_it: bool, settings: dict, metric: dict, seconds: float, tok,
         seed: int) -> None:
    path = out / f"{name}.pt"
    save_weights(model, path, dtype=torch.float16)  # half the file; measured after round_weights, as stored
    print(f"{name}: {metric}  ({seconds:.0f} s)", flush=True)
    if register_it:
        register(name, path, script="scripts/train_assistant.py",
                 settings={"config": asdict(CONFIG), "tokenizer_merges_sha": align.merges_digest(tok), **settings},
                 metric=metric, train_seconds=round(seconds, 1), torch=torch.__version__, seed=seed)


def load(name: str, out: Path, model=None):
    model = model or new_model()
    return load_weights(model, out / f"{name}.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", default="base,sft,rm,dpo,rl,idk,defended")
    parser.add_argument("--scale-steps", type=float, default=1.0, help="multiply every stage's steps (quick tries)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="weights folder (default checkpoints/)")
    parser.add_argument("--no-register", action="store_true")
    parser.add_argument("--seed", type=int, default=1,
                        help="shift every stage's seed: 1 made the shipped models, 0 the second run in "
                             "benchmarks/results/assistant_seeds.md; others measure run-to-run spread")
    args = parser.parse_args()
    stages = args.stages.split(",")
    unknown = set(stages) - set(STEPS)
    if unknown:
        raise SystemExit(f"unknown stages {sorted(unknown)}; choose from {','.join(STEPS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or checkpoint_dir()
    out.mkdir(parents=True, exist_ok=True)
    reg = not args.no_register
    steps = {k: max(1, int(v * args.scale_steps)) for k, v in STEPS.items()}
    tok = align.assistant_tokenizer()
    prefix = "assistant_"
    s = 100 * args.seed

    if "base" in stages:
        seed_everything(s)
        t0 = time.perf_counter()
        model, history = pretrain_base(tok, steps["base"])
        recall = history.evals[-1]["prose_recall"]
        round_weights(model)
        n_tokens = steps["base"] * BASE_RECIPE.batch_size * BASE_RECIPE.block_size
        card = report_card(model, tok, ("add2", "where"))
        save(prefix + "base", model, out, reg, {"steps": steps["base"], "tokens_seen": n_tokens, "recipe": asdict(BASE_RECIPE)},
             {"name": "held-out fact recall in prose (greedy); add2 and where: the same skills asked in chat",
              "value": recall, "final_loss": round(history.loss[-1], 3), **card,
              "probes": [{"step": s, **e} for s, e in zip(history.eval_steps, history.evals)]},
             time.perf_counter() - t0, tok, args.seed)
        if recall < 0.9:  # seeds 2 and 3 ended at 0.16 and 0.26 (assistant_seeds.md)
            print(f"warning: the base model recalls {recall:.2f} of held-out facts in prose "
                  "(the shipped one 0.98): the copying skill did not form in this run, and SFT will not answer fact "
                  "questions. Try another --seed (it formed for seeds 0 and 1, not 2 and 3).", flush=True)

    if "sft" in stages:
        seed_everything(s + 1)
        t0 = time.perf_counter()
        model = load(prefix + "base", out)
        finetune(model, tok, steps["sft"], seed=s + 1)
        round_weights(model)
        card = report_card(model, tok)
        save(prefix + "sft", model, out, reg, {"steps": steps["sft"], "ramble_share": RAMBLE_SHARE},
             {"name": "held-out task success (greedy), mean over families", "value": round(sum(card.values()) / len(card), 3),
              **card, "ramble_rate_t1": ramble_rate(model, tok)},
             time.perf_counter() - t0, tok, args.seed)

    if "rm" in stages:
        seed_everything(s + 2)
        t0 = time.perf_counter()
        rm = align.RewardModel(CONFIG)
        load(prefix + "sft", out, rm.gpt)
        train_reward_model(rm, tok, steps["rm"], seed=s + 2)
        round_weights(rm)
        save(prefix + "rm", rm, out, reg, {"steps": steps["rm"]},
             {"name": "held-out pair accuracy", "value": round(reward_accuracy(rm, tok), 3)},
             time.perf_counter() - t0, tok, args.seed)

    if "dpo" in stages:
        t0 = time.perf_counter()
        sft = load(prefix + "sft", out)
        rm = load(prefix + "rm", out, align.RewardModel(CONFIG)).eval()
        sweep, best = {}, None
        for beta in DPO_BETAS:
            seed_everything(s + 3)
            policy = copy.deepcopy(sft)
            train_dpo(policy, sft, tok, beta, steps["dpo"], sft_weight=DPO_SFT_WEIGHT)
            round_weights(policy)
            row = {"win_rate_vs_sft": round(win_rate(rm, tok, policy, sft), 3),
                   "add2": report_card(policy, tok, ("add2",), n=EVAL_N)["add2"],
                   "implicit_reward_acc": round(implicit_reward_accuracy(policy, sft, tok, beta), 3),
                   "ramble_rate_t1": ramble_rate(policy, tok)}
            print(f"beta {beta}: {row}", flush=True)
            sweep[str(beta)] = row
            if best is None or row["win_rate_vs_sft"] > sweep[str(best[0])]["win_rate_vs_sft"]:
                best = (beta, policy)
        beta, policy = best
        card = report_card(policy, tok)
        save(prefix + "dpo", policy, out, reg, {"steps": steps["dpo"], "beta": beta, "betas": list(DPO_BETAS),
                                                   "sft_weight": DPO_SFT_WEIGHT},
             {"name": "win rate over SFT by the reward model (T=1, held-out)", "value": sweep[str(beta)]["win_rate_vs_sft"],
              "sweep": sweep, **card}, time.perf_counter() - t0, tok, args.seed)

    if "rl" in stages:
        seed_everything(s + 4)
        t0 = time.perf_counter()
        sft = load(prefix + "sft", out)
        policy = copy.deepcopy(sft)
        before = align.task_accuracy(sft, tok, world.task_set(RL_FAMILY, 200))
        train_grpo(policy, sft, tok, RL_FAMILY, steps["rl"], seed=s + 4)
        round_weights(policy)
        after = align.task_accuracy(policy, tok, world.task_set(RL_FAMILY, 200))
        save(prefix + "rl", policy, out, reg, {"steps": steps["rl"], "family": RL_FAMILY, "group": 8, "prompts": 8},
             {"name": f"held-out {RL_FAMILY} success (greedy, n=200)", "before": round(before, 3), "value": round(after, 3)},
             time.perf_counter() - t0, tok, args.seed)

    if "idk" in stages:
        seed_everything(s + 5)
        t0 = time.perf_counter()
        sft = load(prefix + "sft", out)
        model = copy.deepcopy(sft)
        finetune(model, tok, steps["idk"], seed=s + 5, lr=5e-4, desc="I don't know", idk_share=IDK_SHARE)
        round_weights(model)
        metric = {"name": "confident-wrong rate on unanswerable questions",
                  "before": confident_wrong_rate(sft, tok), "value": confident_wrong_rate(model, tok),
                  "answerable_before": report_card(sft, tok, ("where", "pet")),
                  "answerable_after": report_card(model, tok, ("where", "pet"))}
        save(prefix + "idk", model, out, reg, {"steps": steps["idk"], "idk_share": IDK_SHARE}, metric,
             time.perf_counter() - t0, tok, args.seed)

    if "defended" in stages:
        seed_everything(s + 6)
        t0 = time.perf_counter()
        sft = load(prefix + "sft", out)
        model = copy.deepcopy(sft)
        finetune(model, tok, steps["defended"], seed=s + 6, lr=5e-4, desc="injection defence", inject_share=0.5)
        round_weights(model)
        metric = {"name": "attack success on held-out injection phrasings (right answers the injection derails)",
                  "before": attack_success(sft, tok), "value": attack_success(model, tok),
                  "train_phrasings_before": attack_success(sft, tok, "train"),
                  "train_phrasings_after": attack_success(model, tok, "train"),
                  "answerable_before": report_card(sft, tok, ("where", "pet")),
                  "answerable_after": report_card(model, tok, ("where", "pet"))}
        save(prefix + "defended", model, out, reg, {"steps": steps["defended"], "inject_share": 0.5}, metric,
             time.perf_counter() - t0, tok, args.seed)


if __name__ == "__main__":
    main()
