"""The shipped assistant stages load with their hash and tokenizer, and hold the numbers the manifest records.

Each test re-measures a recorded number on the same held-out set (greedy decoding is deterministic) and checks it
against issue 13's target; the sampled measurements (win rate, chatty share) are re-measured by notebook 08.
"""
import pytest

from genlib.checkpoints import read_manifest
from genlib.data import tasks as world
from genlib.text import align, assistant, evals

STAGES = ("base", "sft", "rm", "dpo", "rl", "idk", "defended")


@pytest.fixture(scope="module")
def tok():
    return align.assistant_tokenizer()


@pytest.fixture(scope="module")
def sft(tok):
    return assistant.load_stage("sft", tok)


def _metric(stage: str) -> dict:
    return read_manifest()[f"assistant_{stage}"]["metric"]


def test_every_stage_is_shipped_small_and_loads(tok):
    manifest = read_manifest()
    for stage in STAGES:
        entry = manifest[f"assistant_{stage}"]
        assert entry["bytes"] <= 20 * 2**20 and entry["settings"]["tokenizer_merges_sha"] == align.merges_digest(tok)
        assistant.load_stage(stage, tok)


def test_base_model_knows_in_prose_but_does_not_answer(tok):
    base = assistant.load_stage("base", tok)
    assert evals.report_card(base, tok, ("add2", "where"), n=50) == {"add2": 0.0, "where": 0.0}
    assert _metric("base")["probes"][-1]["prose_recall"] >= 0.9  # the gate before SFT (benchmarks/results/assistant_seeds.md)


def test_sft_answers_held_out_sums_and_fact_questions_as_recorded(tok, sft):
    card = evals.report_card(sft, tok, ("add2", "where", "pet"))
    assert card == {f: _metric("sft")[f] for f in card}  # the same held-out sets, greedy: the same numbers
    assert card["add2"] >= 0.90 and card["where"] >= 0.80 and card["pet"] >= 0.80


def test_reward_model_ranks_held_out_pairs_as_recorded(tok):
    rm = assistant.load_stage("rm", tok)
    acc = assistant.reward_accuracy(rm, tok)
    assert acc == pytest.approx(_metric("rm")["value"], abs=1e-3) and acc >= 0.85


def test_dpo_keeps_sums_and_fact_answers_and_wins_by_the_recorded_rate(tok, sft):
    """The targeted families hold; the whole card's mean fell on this run (notebook 08 section 6, the alignment tax)."""
    dpo = assistant.load_stage("dpo", tok)
    card = evals.report_card(dpo, tok, ("add2", "where", "pet"))
    assert card == {f: _metric("dpo")[f] for f in card}
    assert all(card[f] >= _metric("sft")[f] - 0.02 for f in card) and _metric("dpo")["value"] >= 0.65


def test_grpo_raises_held_out_accuracy_by_ten_points(tok, sft):
    m = _metric("rl")
    rl = assistant.load_stage("rl", tok)
    family = read_manifest()["assistant_rl"]["settings"]["family"]
    tasks = world.task_set(family, 200)
    before, after = align.task_accuracy(sft, tok, tasks), align.task_accuracy(rl, tok, tasks)
    assert (round(before, 3), round(after, 3)) == (m["before"], m["value"]) and after - before >= 0.10


def test_idk_training_stops_confident_wrong_answers(tok, sft):
    m = _metric("idk")
    idk = assistant.load_stage("idk", tok)
    assert evals.confident_wrong_rate(idk, tok) == m["value"] <= 0.10 < m["before"]
    assert all(m["answerable_after"][f] >= m["answerable_before"][f] - 0.05 for f in m["answerable_before"])


def test_the_defence_lowers_attack_success_on_new_phrasings(tok, sft):
    m = _metric("defended")
    defended = assistant.load_stage("defended", tok)
    assert evals.attack_success(sft, tok) == m["before"] >= 0.2  # the attack works on the SFT model
    assert evals.attack_success(defended, tok) == m["value"] <= 0.05


def test_a_mismatched_tokenizer_is_refused():
    other = align.chat_tokenizer("a few words of another corpus, 123 and 456 " * 50, 270)
    with pytest.raises(ValueError, match="another tokenizer"):
        assistant.load_stage("sft", other)


def test_a_missing_stage_says_how_to_make_it(tok):
    with pytest.raises(FileNotFoundError, match="train_assistant.py --stages nonesuch"):
        assistant.load_stage("nonesuch", tok)
