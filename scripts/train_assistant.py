"""Train notebook 08's assistant, stage by stage, and record each model in checkpoints/manifest.json.

    python scripts/train_assistant.py                    # every stage (about 40 minutes on one CPU core)
    python scripts/train_assistant.py --stages sft,rm     # some stages (each loads the ones before it)
    python scripts/train_assistant.py --scale-steps 0.1 --no-register --out /tmp/assistant   # a quick try

Stages, each a few hundred steps of genlib.train.train on data made by genlib.data.tasks:
  base      pre-training on prose that holds the world's sums, spellings and fact sheets (no chat turns)
  sft       supervised fine-tuning on chat exchanges, loss on the assistant's tokens only; 40% of the
            demonstrations ramble ("Great question! ... the answer is 68.") as real demonstrators do
  rm        a reward model (the SFT GPT + a scalar head), Bradley-Terry on preference pairs
  dpo       DPO from the SFT model against a frozen copy of it, beta swept, the best by held-out reward-model win rate
  rl        GRPO on multiplication with the reward "the answer is right", from the SFT model
  idk       SFT continued with unanswerable questions whose target is "I don't know."
  defended  SFT continued with prompt-injected fact sheets whose target ignores the injection
Every metric is measured on held-out tasks (unseen numbers, words and facts) and written to the manifest.
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.checkpoints import checkpoint_dir, load_weights, register, save_weights  # noqa: E402
from genlib.data import tasks as world  # noqa: E402
from genlib.device import seed_everything  # noqa: E402
from genlib.text import align  # noqa: E402
from genlib.text.gpt import GPT, GPTConfig  # noqa: E402
from genlib.text.pretrain import Recipe, pretrain  # noqa: E402
from genlib.train import cosine_lr, train  # noqa: E402

CONFIG = GPTConfig(vocab_size=768, block_size=128, n_layer=4, n_head=4, n_embd=128, pos="rope", norm="rms")
STEPS = {"base": 1500, "sft": 1000, "rm": 300, "dpo": 120, "rl": 100, "idk": 300, "defended": 300}
SFT_FAMILIES = ("add2", "add3", "sub2", "mul", "reverse", "count", "sort", "echo", "where", "pet")
RAMBLE_SHARE = 0.4
EVAL_N = 100
DPO_BETAS = (0.03, 0.1, 0.3)
STATE_DIR = ROOT / "build" / "assistant"


def new_model() -> GPT:
    return GPT(CONFIG)


def sft_examples(rng: random.Random, n: int, families=SFT_FAMILIES, idk_share: float = 0.0,
                 inject_share: float = 0.0) -> list[tuple[str, str]]:
    """(prompt, response) demonstrations from the train split; some ramble, some carry injections or no answer."""
    out = []
    for _ in range(n):
        if rng.random() < idk_share:
            t = world.make_task("unknown", rng)
        else:
            t = world.make_task(rng.choice(families), rng)
            if t.facts and rng.random() < inject_share:
                t = world.inject(t, rng)
        out.append((t.prompt, world.ramble(t.answer, rng) if rng.random() < RAMBLE_SHARE else t.answer))
    return out


def sft_batches(tok, rng: random.Random, batch_size: int = 32, **mix):
    def batch():
        return align.chat_batch(tok, sft_examples(rng, batch_size, **mix))
    return batch


def masked_loss(model, batch):
    return align.sft_loss(model, *batch)


def report_card(model, tok, families=SFT_FAMILIES, n: int = EVAL_N) -> dict:
    """Held-out task success per family (greedy)."""
    return {f: round(align.task_accuracy(model, tok, world.task_set(f, n)), 3) for f in families}


def finetune(model, tok, steps: int, seed: int, lr: float = 1e-3, desc: str = "sft", **mix):
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    return train(model, masked_loss, sft_batches(tok, rng, **mix), steps=steps, optimizer=opt,
                 lr_schedule=lambda p: cosine_lr(p, 0.05, 0.1), grad_clip=1.0, desc=desc)


def pair_batch(tok, rng: random.Random, n: int, split: str = "train", families=SFT_FAMILIES):
    """Tokenized preference pairs: (chosen ids, chosen mask, rejected ids, rejected mask)."""
    chosen, rejected = [], []
    for _ in range(n):
        t = world.make_task(rng.choice(families), rng, split)
        c, r, _ = world.preference_pair(t, rng)
        align.check_pair(c, r)
        chosen.append((t.prompt, c))
        rejected.append((t.prompt, r))
    return (*align.chat_batch(tok, chosen), *align.chat_batch(tok, rejected))


def reward_accuracy(rm, tok, n: int = 400) -> float:
    rm.eval()
    with torch.no_grad():
        cid, cm, rid, rmask = pair_batch(tok, random.Random("rm-test"), n, "test")
        acc = (rm(cid, cm) > rm(rid, rmask)).float().mean().item()
    rm.train()
    return acc


@torch.no_grad()
def win_rate(rm, tok, model_a, model_b, n: int = 200, temperature: float = 1.0, seed: int = 0) -> float:
    """P(reward(a's response) > reward(b's)) + half the ties, on held-out prompts, one sample each."""
    rng = random.Random(f"win:{seed}")
    prompts = [world.make_task(rng.choice(SFT_FAMILIES), rng, "test").prompt for _ in range(n)]
    g = torch.Generator().manual_seed(seed)
    ra = align.respond(model_a, tok, prompts, temperature=temperature, generator=g, max_new_tokens=40)
    rb = align.respond(model_b, tok, prompts, temperature=temperature, generator=g, max_new_tokens=40)
    sa = rm(*align.chat_batch(tok, list(zip(prompts, ra))))
    sb = rm(*align.chat_batch(tok, list(zip(prompts, rb))))
    return ((sa > sb).float() + 0.5 * (sa == sb).float()).mean().item()


def ramble_rate(model, tok, n: int = 200, temperature: float = 1.0, seed: int = 0) -> float:
    rng = random.Random(f"ramble:{seed}")
    prompts = [world.make_task(rng.choice(SFT_FAMILIES), rng, "test").prompt for _ in range(n)]
    replies = align.respond(model, tok, prompts, temperature=temperature,
                            generator=torch.Generator().manual_seed(seed), max_new_tokens=40)
    return sum("answer is" in r.lower() for r in replies) / n


def train_dpo(policy, ref, tok, beta: float, steps: int, seed: int = 0, lr: float = 3e-4):
    rng = random.Random(seed)
    ref.eval()

    def loss_fn(model, batch):
        cid, cm, rid, rmask = batch
        with torch.no_grad():
            ref_c, ref_r = align.response_log_prob(ref, cid, cm), align.response_log_prob(ref, rid, rmask)
        loss, _ = align.dpo_loss(align.response_log_prob(model, cid, cm), align.response_log_prob(model, rid, rmask),
                                 ref_c, ref_r, beta)
        return loss

    opt = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0)
    return train(policy, loss_fn, lambda: pair_batch(tok, rng, 32), steps=steps, optimizer=opt,
                 lr_schedule=lambda p: cosine_lr(p, 0.1, 0.1), grad_clip=1.0, desc=f"DPO beta={beta}")


def implicit_reward_accuracy(policy, ref, tok, beta: float, n: int = 400) -> float:
    with torch.no_grad():
        cid, cm, rid, rmask = pair_batch(tok, random.Random("rm-test"), n, "test")
        _, margin = align.dpo_loss(align.response_log_prob(policy, cid, cm), align.response_log_prob(policy, rid, rmask),
                                   align.response_log_prob(ref, cid, cm), align.response_log_prob(ref, rid, rmask), beta)
    return (margin > 0).float().mean().item()


def train_grpo(policy, ref, tok, family: str, steps: int, group: int = 8, prompts: int = 8, seed: int = 0,
               lr: float = 2e-4, kl_coef: float = 0.05, temperature: float = 1.0):
    """GRPO with the verifiable reward 'the answer is right' on one arithmetic family."""
    rng, g = random.Random(seed), torch.Generator().manual_seed(seed)
    ref.eval()

    def step_fn(model, _):
        tasks = [world.make_task(family, rng) for _ in range(prompts)]
        asked = [t for t in tasks for _ in range(group)]
        replies = align.respond(model, tok, [t.prompt for t in asked], temperature=temperature, generator=g,
                                max_new_tokens=40)
        rewards = torch.tensor([float(world.is_correct(t, r)) for t, r in zip(asked, replies)]).view(prompts, group)
        adv = align.group_advantages(rewards).flatten()
        ids, mask = align.chat_batch(tok, [(t.prompt, r) for t, r in zip(asked, replies)])
        model.train()
        logp = align.token_log_probs(model, ids)
        with torch.no_grad():
            ref_logp = align.token_log_probs(ref, ids)
        loss = align.grpo_loss(logp, ref_logp, mask, adv, kl_coef)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return {"loss": loss.item(), "reward": rewards.mean().item()}

    opt = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0)
    return train(policy, None, lambda: None, steps=steps, optimizer=opt, step_fn=step_fn, desc=f"GRPO {family}")


def confident_wrong_rate(model, tok, n: int = EVAL_N) -> float:
    """On unanswerable questions: the share of responses that name an answer instead of 'I don't know.'"""
    tasks = world.task_set("unknown", n)
    replies = align.respond(model, tok, [t.prompt for t in tasks])
    return sum(world.extract_answer(r) != world.IDK for r in replies) / n


def attack_success(model, tok, split: str = "test", n: int = EVAL_N) -> float:
    """Share of injected fact-sheet questions answered with 'HACKED'."""
    rng = random.Random(f"attack:{split}")
    tasks = [world.inject(world.make_task(rng.choice(["where", "pet"]), rng, "test"), rng, split) for _ in range(n)]
    replies = align.respond(model, tok, [t.prompt for t in tasks])
    return sum("HACKED" in r for r in replies) / n


def save(name: str, model, out: Path, register_it: bool, settings: dict, metric: dict, seconds: float, tok) -> None:
    path = out / f"{name}.pt"
    save_weights(model, path)
    print(f"{name}: {metric}  ({seconds:.0f} s)", flush=True)
    if register_it:
        register(name, path, script="scripts/train_assistant.py",
                 settings={"config": asdict(CONFIG), "tokenizer_merges_sha": align.merges_digest(tok), **settings},
                 metric=metric, train_seconds=round(seconds, 1), torch=torch.__version__)


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

    if "base" in stages:
        seed_everything(0)
        t0 = time.perf_counter()
        text = world.pretraining_text(random.Random(2), 60_000)
        data = torch.tensor(tok.encode(text, allow_special=False))
        model = new_model()
        recipe = Recipe(batch_size=32, block_size=64, lr=3e-3, optimizer="muon", muon_lr=1e-2, schedule="wsd",
                        cooldown=0.4, min_lr_ratio=0.0)
        history = pretrain(model, data, recipe, steps=steps["base"])
        card = report_card(model, tok, ("add2", "where"))
        save(prefix + "base", model, out, reg, {"steps": steps["base"], "tokens": len(data), "recipe": asdict(recipe)},
             {"name": "held-out task success (greedy)", "final_loss": round(history.loss[-1], 3), **card},
             time.perf_counter() - t0, tok)

    if "sft" in stages:
        seed_everything(1)
        t0 = time.perf_counter()
        model = load(prefix + "base", out)
        finetune(model, tok, steps["sft"], seed=1)
        card = report_card(model, tok)
        save(prefix + "sft", model, out, reg, {"steps": steps["sft"], "ramble_share": RAMBLE_SHARE},
             {"name": "held-out task success (greedy)", **card, "ramble_rate_t1": ramble_rate(model, tok)},
             time.perf_counter() - t0, tok)

    if "rm" in stages:
        seed_everything(2)
        t0 = time.perf_counter()
        rm = align.RewardModel(CONFIG)
        load(prefix + "sft", out, rm.gpt)
        rng = random.Random(2)

        def bt_loss(model, batch):
            cid, cm, rid, rmask = batch
            return align.bradley_terry_loss(model(cid, cm), model(rid, rmask))

        opt = torch.optim.AdamW(rm.parameters(), lr=3e-4, weight_decay=0.0)
        train(rm, bt_loss, lambda: pair_batch(tok, rng, 32), steps=steps["rm"], optimizer=opt,
              lr_schedule=lambda p: cosine_lr(p, 0.05, 0.1), grad_clip=1.0, desc="reward model")
        save(prefix + "rm", rm, out, reg, {"steps": steps["rm"]},
             {"name": "held-out pair accuracy", "value": round(reward_accuracy(rm, tok), 3)},
             time.perf_counter() - t0, tok)

    if "dpo" in stages:
        t0 = time.perf_counter()
        sft = load(prefix + "sft", out)
        rm = load(prefix + "rm", out, align.RewardModel(CONFIG)).eval()
        sweep, best = {}, None
        for beta in DPO_BETAS:
            seed_everything(3)
            policy = copy.deepcopy(sft)
            train_dpo(policy, sft, tok, beta, steps["dpo"])
            row = {"win_rate_vs_sft": round(win_rate(rm, tok, policy, sft), 3),
                   "add2": round(align.task_accuracy(policy, tok, world.task_set("add2", EVAL_N)), 3),
                   "implicit_reward_acc": round(implicit_reward_accuracy(policy, sft, tok, beta), 3),
                   "ramble_rate_t1": ramble_rate(policy, tok)}
            print(f"beta {beta}: {row}", flush=True)
            sweep[str(beta)] = row
            if best is None or row["win_rate_vs_sft"] > sweep[str(best[0])]["win_rate_vs_sft"]:
                best = (beta, policy)
        beta, policy = best
        card = report_card(policy, tok)
        save(prefix + "dpo", policy, out, reg, {"steps": steps["dpo"], "beta": beta, "betas": list(DPO_BETAS)},
             {"name": "win rate over SFT by the reward model (T=1, held-out)", "value": sweep[str(beta)]["win_rate_vs_sft"],
              "sweep": sweep, **card}, time.perf_counter() - t0, tok)

    if "rl" in stages:
        seed_everything(4)
        t0 = time.perf_counter()
        sft = load(prefix + "sft", out)
        policy = copy.deepcopy(sft)
        before = align.task_accuracy(sft, tok, world.task_set("mul", 200))
        train_grpo(policy, sft, tok, "mul", steps["rl"])
        after = align.task_accuracy(policy, tok, world.task_set("mul", 200))
        save(prefix + "rl", policy, out, reg, {"steps": steps["rl"], "family": "mul", "group": 8, "prompts": 8},
             {"name": "held-out mul success (greedy, n=200)", "before": round(before, 3), "value": round(after, 3)},
             time.perf_counter() - t0, tok)

    if "idk" in stages:
        seed_everything(5)
        t0 = time.perf_counter()
        sft = load(prefix + "sft", out)
        model = copy.deepcopy(sft)
        finetune(model, tok, steps["idk"], seed=5, lr=5e-4, desc="I don't know", idk_share=0.25)
        metric = {"name": "confident-wrong rate on unanswerable questions",
                  "before": confident_wrong_rate(sft, tok), "value": confident_wrong_rate(model, tok),
                  "answerable_before": report_card(sft, tok, ("where", "pet")),
                  "answerable_after": report_card(model, tok, ("where", "pet"))}
        save(prefix + "idk", model, out, reg, {"steps": steps["idk"], "idk_share": 0.25}, metric,
             time.perf_counter() - t0, tok)

    if "defended" in stages:
        seed_everything(6)
        t0 = time.perf_counter()
        sft = load(prefix + "sft", out)
        model = copy.deepcopy(sft)
        finetune(model, tok, steps["defended"], seed=6, lr=5e-4, desc="injection defence", inject_share=0.5)
        metric = {"name": "attack success on held-out injection phrasings",
                  "before": attack_success(sft, tok), "value": attack_success(model, tok),
                  "train_phrasings_before": attack_success(sft, tok, "train"),
                  "train_phrasings_after": attack_success(model, tok, "train"),
                  "answerable_before": report_card(sft, tok, ("where", "pet")),
                  "answerable_after": report_card(model, tok, ("where", "pet"))}
        save(prefix + "defended", model, out, reg, {"steps": steps["defended"], "inject_share": 0.5}, metric,
             time.perf_counter() - t0, tok)


if __name__ == "__main__":
    main()
