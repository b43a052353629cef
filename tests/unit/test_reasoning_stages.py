"""A reasoning model behind an OpenAI-compatible endpoint served without a reasoning parser writes its thoughts
into the reply: ``<think>...</think>`` and then the answer (vLLM's ``deepseek_r1``/``qwen3`` reasoning parsers,
``vllm/reasoning/``, split exactly that text into ``reasoning_content`` and ``content``). The paper's UEG stepwise
protocol (arXiv 2509.24897; REALUNIFY.md "Protocols") generates the image from the *refined prompt*, the reply's
content; and the judge answers each polling question with yes or no after its thoughts (issue 16: "for stored replies
and live judges alike"). A real ``openai`` adapter against a loopback stand-in that cuts its reply at the token
limit it is sent, as such a server does (``finish_reason`` "length"); nothing of the subject replaced."""

from __future__ import annotations

import contextlib
import json

import pytest
from PIL import Image

from realunify_arena.adapters.base import CutReply, GenerationOptions
from realunify_arena.benchmark import load
from realunify_arena.cards import load_card
from realunify_arena.judge import AdapterJudge, judge_trace
from realunify_arena.protocols import refined_prompt, run
from realunify_arena.reasoning import cut_before_answer
from realunify_arena.runtime import ModelPool
from realunify_arena.trace import Status, StepRole
from tests.stand_in import JSONHandler, png_b64, serving

THOUGHTS = ("Let me think about what the prompt asks for. The largest feline is the tiger, so the picture must "
            "show a tiger and nothing that contradicts the description. ") * 3
REFINED = "A tiger standing in tall grass."


class Reasoning(JSONHandler):
    """Chat completions: ``<think>THOUGHTS</think>`` then the answer (the refined prompt for a refine request,
    "Yes" for a polling question), cut after as many words as the request's token limit allows, as a server cuts
    at ``max_tokens``/``max_completion_tokens``. Image requests: the prompt is recorded, a small PNG answered."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if "/images/" in self.path:
            self.server.image_prompts.append(body["prompt"])
            return self.reply(200, {"created": 0, "data": [{"b64_json": png_b64(Image.new("RGB", (32, 32), "orange"))}]})
        text = body["messages"][0]["content"][0]["text"]
        answer = "Yes" if text.startswith("Please answer the following question") else REFINED
        words = self.words(answer)
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or len(words)
        cut = len(words) > limit
        self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [
            {"index": 0, "finish_reason": "length" if cut else "stop",
             "message": {"role": "assistant", "content": " ".join(words[:limit])}}]})

    def words(self, answer: str) -> list[str]:
        """The reply's words (cut at the token limit by word)."""
        return f"<think>\n{THOUGHTS}\n</think>\n\n{answer}".split(" ")


@contextlib.contextmanager
def _thinker(handler, tmp_path, max_new_tokens: int = 512):
    """(pool with the card "thinker" of the openai family, server) for a stand-in answering as ``handler``."""
    with serving(handler, image_prompts=[]) as server:
        path = tmp_path / "thinker.yaml"
        path.write_text(json.dumps({
            "family": "openai", "description": "reasoning stand-in (test only)",
            "capabilities": ["understand", "generate"], "endpoint": f"{server.url}/v1", "checkpoint": "m",
            "defaults": {"max_new_tokens": max_new_tokens}, "params": {"timeout_s": 10}}))
        yield ModelPool({"thinker": load_card(path)}), server


@pytest.fixture()
def reasoning(tmp_path):
    with _thinker(Reasoning, tmp_path) as pool_server:
        yield pool_server


def _ueg():
    return next(i for i in load("bundled").instances if i.track == "UEG")


def test_ueg_stepwise_generates_from_the_refined_prompt_not_the_reasoning_before_it(reasoning):
    pool, server = reasoning
    with pool.use("thinker") as adapter:
        trace = run(_ueg(), adapter, "stepwise", GenerationOptions(max_new_tokens=512))
    assert trace.status is Status.OK, trace.error
    assert server.image_prompts == [REFINED]  # what the generator was sent: the reply's content only
    generated = next(s for s in trace.steps if s.role is StepRole.GENERATED_IMAGE)
    assert generated.prompt == REFINED
    refine = next(s for s in trace.steps if s.role is StepRole.REFINED_PROMPT)
    assert refine.text.endswith(REFINED) and "<think>" in refine.text  # the model's whole reply is kept, as shown


def test_a_refine_reply_cut_while_thinking_is_a_failed_run_not_a_prompt(reasoning):
    pool, server = reasoning
    with pool.use("thinker") as adapter:
        trace = run(_ueg(), adapter, "stepwise", GenerationOptions(max_new_tokens=8))
    assert trace.status is Status.ERROR
    assert "refined prompt" in trace.error and "reasoning" in trace.error, trace.error
    assert server.image_prompts == []  # no image generated from the model's unfinished thoughts


@pytest.mark.parametrize("handler", ["Reasoning", "ShortThinker"])
def test_a_reasoning_judge_is_given_room_to_think_before_its_verdict(tmp_path, handler):
    """The judge asks for 8 tokens (the verdict is the first word); a reply cut there inside its reasoning is asked
    again with the card's own budget (``defaults.max_new_tokens``, 512 here), so every polling question gets its
    verdict (the stand-in answers "Yes" after ~70 words of thought) instead of three judge errors. So is one cut just
    after its reasoning, before the verdict (``ShortThinker``; verify26b: every question was a judge error)."""
    instance = _ueg()
    with _thinker(globals()[handler], tmp_path) as (pool, server), pool.use("thinker") as adapter:
        trace = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=512))
        assert trace.status is Status.OK, trace.error
        judgment = judge_trace(trace, instance, AdapterJudge(pool, "thinker"), lambda step: step.image)
    assert judgment.errors == 0, judgment.details
    verdicts = [q["verdict"] for q in judgment.details["questions"]]
    assert verdicts and all(v == "yes" for v in verdicts)
    expected = [q.answer for q in instance.question_list]
    assert judgment.score == int(all(a == "yes" for a in expected))


SHORT = "the picture shows a tiger clearly"  # six words: with "<think>" and "</think>", eight


class ShortThinker(Reasoning):
    """As ``Reasoning``, with a thought of six words, so a reply cut at 8 tokens ends exactly at ``</think>``:
    the reasoning is closed and the answer after it cut off (``finish_reason`` "length")."""

    def words(self, answer: str) -> list[str]:
        return ["<think>", *SHORT.split(" "), "</think>", *answer.split(" ")]


@pytest.fixture()
def short_thinker(tmp_path):
    with _thinker(ShortThinker, tmp_path) as pool_server:
        yield pool_server


def test_a_refine_reply_cut_just_after_its_reasoning_is_a_failed_run_not_an_empty_prompt(short_thinker):
    """Cut at the token limit right after ``</think>``: the model had not written its refined prompt, so there is
    none to generate from (verify26b: the image was generated from "" as if the model had answered nothing)."""
    pool, server = short_thinker
    with pool.use("thinker") as adapter:
        trace = run(_ueg(), adapter, "stepwise", GenerationOptions(max_new_tokens=8))
    assert trace.status is Status.ERROR, [s.prompt for s in trace.steps]
    assert "refined prompt" in trace.error and "cut" in trace.error, trace.error
    assert server.image_prompts == []


@pytest.mark.parametrize("text", ["", "   \n", "a tiger in tall grass"])
def test_a_reply_without_reasoning_cut_at_its_limit_is_what_the_model_wrote(text):
    """A model that does not reason and stops at its token limit answered with what it wrote, however empty: the
    refined prompt is that text and a judge is not asked again (test_run_once: a tiny model's empty refine reply,
    cut at its limit, failed every UEG stepwise battle side once cut replies counted as cut before their answer)."""
    cut = CutReply(text)
    assert not cut_before_answer(cut)
    assert refined_prompt(text, cut=True) == text.strip()


@pytest.mark.parametrize("text", ["<think>the tiger</think>", "<think>the tiger</think>\n\n", "the tiger</think>"])
def test_a_reasoning_reply_cut_at_its_limit_with_nothing_after_is_cut_before_its_answer(text):
    """The reasoning closed (here, or its opening tag in the prompt) and the limit came before any answer."""
    assert cut_before_answer(CutReply(text))
    assert not cut_before_answer(text)  # not cut: the model chose to answer nothing
    with pytest.raises(ValueError, match="cut"):
        refined_prompt(text, cut=True)


@pytest.mark.parametrize("card_tokens", [8, 4])
def test_a_reasoning_judge_whose_card_leaves_no_room_to_think_says_so(tmp_path, card_tokens):
    """The judge's first ask allows 8 tokens; a card whose ``defaults.max_new_tokens`` is no more than that cannot be
    asked again with more (note 26: such a judge never got the second ask, and its judgment held three bare cut
    replies, asked three times each, with nothing saying why). Each question is now a judge error whose reply says
    what happened and what to change (the card file and its value), asked once: a sampled retry with the same 8
    tokens is cut the same way."""
    instance = _ueg()
    with _thinker(Reasoning, tmp_path, card_tokens) as (pool, server), pool.use("thinker") as adapter:
        trace = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=512))
        assert trace.status is Status.OK, trace.error
        judgment = judge_trace(trace, instance, AdapterJudge(pool, "thinker"), lambda step: step.image)
    questions = judgment.details["questions"]
    assert judgment.errors == len(questions) == len(instance.question_list) and judgment.score is None
    for item in questions:
        assert item["verdict"] is None and len(item["replies"]) == 1, item
        reply = item["replies"][0]
        for said in ("cut at 8 tokens", "reasoning", f"max_new_tokens ({card_tokens})", str(tmp_path / "thinker.yaml"),
                     "raise it"):
            assert said in reply, (said, reply)


def _refined_box(trace):
    """What a page's refined-prompt box shows for ``trace``: (value, label), from the Explore/Arena view."""
    import gradio as gr

    from realunify_arena.ui.render import TraceView
    with gr.Blocks():
        view = TraceView.create("t")
    update = view.show(trace, "UEG", lambda step: Image.new("RGB", (8, 8)), "")[1]
    return update["value"], update.get("label", "")


def test_the_refined_prompt_box_shows_the_prompt_sent_on_not_the_thoughts_before_it(reasoning):
    """Our own run: the box shows the refined prompt the image was generated from (``server.image_prompts``), and
    says it is the reply after the model's reasoning; the stored step keeps the whole reply."""
    pool, server = reasoning
    with pool.use("thinker") as adapter:
        trace = run(_ueg(), adapter, "stepwise", GenerationOptions(max_new_tokens=512))
    value, label = _refined_box(trace)
    assert [value] == server.image_prompts == [REFINED]
    assert "after its reasoning" in label
    assert "<think>" in next(s.text for s in trace.steps if s.role is StepRole.REFINED_PROMPT)


@pytest.mark.parametrize("response, shown, said", [
    (f"<think>\n{THOUGHTS}\n</think>\n\n{REFINED}", REFINED, ("imported response", "reasoning left out", "derived")),
    (REFINED, REFINED, ("imported response, as given",)),
    (f"<think>\n{THOUGHTS}\n</think>", f"<think>\n{THOUGHTS}\n</think>",
     ("imported response", "only its reasoning", "no refined prompt")),
], ids=["with-thoughts", "without", "only-thoughts"])
def test_an_imported_refined_prompt_is_shown_without_its_thoughts_and_said_to_be_derived(tmp_path, response, shown,
                                                                                       said):
    """An imported UEG stepwise run (a real ``UEG_step.json`` in a real store): the file's ``response`` is kept as
    given, thoughts included (note 26: the page showed it whole as the refined prompt); the box shows the prompt
    after the thoughts and says it was derived here from the imported response, or that it is that response as
    given."""
    from realunify_arena.benchmark.writer import official_entry
    from realunify_arena.importing import import_results
    from realunify_arena.store import Store

    bundled = load("bundled")
    inst = next(i for i in bundled.instances if i.track == "UEG")
    folder = tmp_path / "published"
    folder.mkdir()
    Image.new("RGB", (16, 16), "orange").save(folder / "0.png")
    entry = {**official_entry(inst, "step"), "response": response, "generated_image": str(folder / "0.png")}
    (folder / "UEG_step.json").write_text(json.dumps([entry]), encoding="utf-8")
    store = Store.open(tmp_path / "arena.db")
    assert import_results(store, folder, "runner-x", modes=["stepwise"], data=bundled).new == 1
    trace = store.load_trace(store.runs(model="runner-x")[0]["id"])
    assert next(s.text for s in trace.steps if s.role is StepRole.REFINED_PROMPT) == response.strip()  # as imported
    value, label = _refined_box(trace)
    assert value == shown
    for words in said:
        assert words in label, (words, label)


class GEUThinker(Reasoning):
    """GEU answers: ``<think>`` thoughts that name a letter early ("The answer is B because ...") then, after
    ``</think>``, the letter the model settles on, "A"; cut by word at the request's token limit."""

    def words(self, answer: str) -> list[str]:
        return ["<think>", "The", "answer", "is", "B", "because", *THOUGHTS.split(" "), "</think>", "A"]


def _geu():
    return next(i for i in load("bundled").instances if i.track == "GEU")


def test_a_geu_answer_cut_while_thinking_keeps_its_score_and_carries_a_note(tmp_path, capsys):
    """A GEU answer cut at its token limit inside its reasoning block was stored as a plain successful run, its
    official letter read from the unfinished thoughts (``extract_choice`` finds the "B" of "The answer is B
    because"), nothing saying so; UEG's refine step is a failed run in that case. The headline rule stays exact
    (issue 16): the run keeps its status and official letter, and now carries a note, shown in the page's status,
    counted by ``eval`` and by ``report``. The strict parse finds no letter in unfinished thoughts (a wrong answer
    in the strict column). A reply the model finished (512 tokens) carries no note. The note names the card's own
    file (here outside ``models/``, as with ``--models-dir``), as the judge's no-room error does: it said
    ``models/thinker.yaml``, a file that does not exist."""
    from realunify_arena.evaluation import evaluate
    from realunify_arena.judge import ANSWER_PARSER, mcq_judgment
    from realunify_arena.store import Store
    from realunify_arena.ui.render import status_line

    instance = _geu()
    with _thinker(GEUThinker, tmp_path, max_new_tokens=8) as (pool, server):
        with pool.use("thinker") as adapter:
            cut = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=8))
            whole = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=512))
        assert cut.status is Status.OK and whole.status is Status.OK, (cut.error, whole.error)
        reply = cut.steps[-1].text
        assert reply.startswith("<think>") and "</think>" not in reply  # 8 words: inside the thoughts
        assert cut.notes == ["answer cut while reasoning: the answer was cut at 8 tokens (max_new_tokens) while the "
                             "model was still reasoning, so its letter comes from unfinished thoughts (the strict "
                             f"parse finds none); raise defaults.max_new_tokens in {tmp_path / 'thinker.yaml'}"]
        assert whole.notes == [] and "notes" not in whole.to_dict()
        details = mcq_judgment(instance, reply).details
        assert (details["letter"], details["strict_letter"]) == ("B", None)  # official: from the thoughts
        assert details["strict_score"] == 0  # the instance's answer is a letter: no letter is wrong
        assert mcq_judgment(instance, whole.steps[-1].text).details["strict_letter"] == "A"  # after </think>
        assert "- **note:** answer cut while reasoning" in status_line(cut, 1, title="A")

        db = tmp_path / "arena.db"
        store = Store.open(db)
        runs = len({i.task_type for i in load("bundled").instances if i.track == "GEU"})
        try:
            summary = evaluate(load("bundled"), "thinker", AdapterJudge(pool, "thinker"), store, pool, modes=["direct"], track="GEU",
                               limit=1, progress=False)  # one instance a GEU category
            assert f"{runs} GEU answer(s) cut at max_new_tokens while the model was still reasoning" in summary.lines()[0]
            run_id = store.find_run("bundled", instance.uid, "thinker", "direct", cut.settings)
            assert store.load_trace(run_id).notes == cut.notes  # kept with the stored run
            assert store.judgments()[0]["judge"] == ANSWER_PARSER
        finally:
            store.close()
    _report_counts_every_answer_cut(db, runs, tmp_path, capsys)


def _report_counts_every_answer_cut(db, runs: int, tmp_path, capsys) -> None:
    """``report --db db`` says that all ``runs`` GEU answers of ``thinker:direct`` were cut while reasoning."""
    from realunify_arena.cli import main

    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "reports")]) == 0
    err = capsys.readouterr().err
    assert f"note: bundled: thinker:direct: {runs} of {runs} GEU answers cut while the model was still reasoning" in err, err


class NothingAfterThinking(Reasoning):
    """A refine reply that closes its reasoning and writes nothing after it (finished, not cut)."""

    def words(self, answer: str) -> list[str]:
        return f"<think>\n{THOUGHTS}\n</think>\n\n{'' if answer == REFINED else answer}".split(" ")


@pytest.mark.parametrize("reply", ["<think>\nhmm\n</think>", "hmm</think>", "<think>hmm",
                                   "<think>a</think>\n<think>b</think>"],
                         ids=["closed", "opened-in-prompt", "unclosed", "two-blocks"])
def test_a_reply_that_is_only_reasoning_is_not_called_the_prompt_sent_on(reply):
    """A refine reply with nothing after its reasoning holds no refined prompt (``refined_prompt`` gives "" or
    raises): the box may show the thoughts, but its label must say there is no prompt after them, not present them
    as the refined prompt (hand-read: every reply here is reasoning only)."""
    from realunify_arena.trace import Step, Trace
    trace = Trace(_ueg().uid, "thinker", "stepwise", {"seed": 0},
                  steps=[Step(StepRole.REFINED_PROMPT, "refine", text=reply)])
    value, label = _refined_box(trace)
    assert value == reply
    assert "only its reasoning" in label and "no refined prompt" in label, label


def test_an_own_run_whose_reply_is_only_reasoning_says_the_image_had_no_refined_prompt(tmp_path):
    """Our own run: the model closed its reasoning and wrote nothing after it, so the image was generated from an
    empty prompt (``server.image_prompts``); the box labelled plain 'Refined prompt (step 1)' showed the thoughts as
    if they were the prompt sent on."""
    with _thinker(NothingAfterThinking, tmp_path) as (pool, server):
        with pool.use("thinker") as adapter:
            trace = run(_ueg(), adapter, "stepwise", GenerationOptions(max_new_tokens=512))
    assert trace.status is Status.OK and server.image_prompts == [""], (trace.error, server.image_prompts)
    value, label = _refined_box(trace)
    assert "only its reasoning" in label and "no refined prompt" in label, label


# -- served with a reasoning parser ------------------------------------------------------------------------------
# vLLM started with ``--reasoning-parser`` (deepseek_r1, qwen3 ...) answers the thoughts apart from the answer:
# ``message.reasoning_content`` (``message.reasoning`` in newer releases) and ``message.content``, which is null (or
# "") when the reply was cut at its token limit before the thoughts ended (``finish_reason`` "length").


class ParserReasoning(Reasoning):
    """As ``Reasoning``, served with a reasoning parser: the thoughts in ``FIELD``, the answer alone in ``content``;
    cut by word at the request's token limit, thoughts first. ``EMPTY``: what ``content`` is when the limit came
    before the answer (vLLM answers null; some servers "")."""

    FIELD = "reasoning_content"
    EMPTY: str | None = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if "/images/" in self.path:
            return self._image(body)
        text = body["messages"][0]["content"][0]["text"]
        answer = self.answer(text).split(" ")
        thoughts = self.thoughts().split(" ")
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or len(thoughts) + len(answer)
        left = limit - len(thoughts)
        content = " ".join(answer[:left]) if left > 0 else self.EMPTY
        self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [
            {"index": 0, "finish_reason": "length" if left < len(answer) else "stop",
             "message": {"role": "assistant", "content": content, self.FIELD: " ".join(thoughts[:limit])}}]})

    def _image(self, body: dict) -> None:
        self.server.image_prompts.append(body["prompt"])
        self.reply(200, {"created": 0, "data": [{"b64_json": png_b64(Image.new("RGB", (32, 32), "orange"))}]})

    def thoughts(self) -> str:
        return THOUGHTS

    def answer(self, text: str) -> str:
        if text.startswith("Please answer the following question"):
            return "Yes"
        return "A" if "Options" in text or "(A)" in text or "A." in text else REFINED


def _parser(field: str, empty: str | None):
    return type("Parser", (ParserReasoning,), {"FIELD": field, "EMPTY": empty})


PARSERS = [("reasoning_content", None), ("reasoning", None), ("reasoning_content", "")]
PARSER_IDS = ["reasoning_content-null", "reasoning-null", "reasoning_content-empty"]


@pytest.mark.parametrize("field, empty", PARSERS, ids=PARSER_IDS)
def test_a_parser_served_reasoning_judge_is_given_room_to_think_before_its_verdict(tmp_path, field, empty):
    """The judge's first ask (8 tokens) is cut inside the thoughts: the server answers ``content`` null and the
    thoughts apart, ``finish_reason`` "length". Before, the adapter raised "the endpoint answered no text" and the
    judge asked again with the same 8 tokens until its attempts ran out: every question a judge error. Now it is
    asked again with the card's ``max_new_tokens`` (512), as a reasoning judge served without a parser is, and the
    stand-in answers "Yes" after its ~70 words of thought."""
    instance = _ueg()
    with _thinker(_parser(field, empty), tmp_path) as (pool, server), pool.use("thinker") as adapter:
        trace = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=512))
        assert trace.status is Status.OK, trace.error
        judgment = judge_trace(trace, instance, AdapterJudge(pool, "thinker"), lambda step: step.image)
    assert judgment.errors == 0, judgment.details
    questions = judgment.details["questions"]
    assert [q["replies"] for q in questions] == [["Yes"]] * len(instance.question_list)  # the answer, not the thoughts
    assert judgment.score == int(all(q.answer == "yes" for q in instance.question_list))


def test_a_parser_served_reasoning_judge_whose_card_leaves_no_room_says_so(tmp_path):
    """As ``test_a_reasoning_judge_whose_card_leaves_no_room_to_think_says_so``, served with a reasoning parser."""
    instance = _ueg()
    with _thinker(ParserReasoning, tmp_path, 8) as (pool, server), pool.use("thinker") as adapter:
        trace = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=512))
        judgment = judge_trace(trace, instance, AdapterJudge(pool, "thinker"), lambda step: step.image)
    for item in judgment.details["questions"]:
        assert item["verdict"] is None and len(item["replies"]) == 1, item
        for said in ("cut at 8 tokens", "reasoning", "max_new_tokens (8)", str(tmp_path / "thinker.yaml"), "raise it"):
            assert said in item["replies"][0], (said, item["replies"][0])


@pytest.mark.parametrize("field, empty", PARSERS, ids=PARSER_IDS)
def test_a_parser_served_refine_reply_cut_while_thinking_is_a_failed_run_not_a_prompt(tmp_path, field, empty):
    """UEG stepwise, refine cut inside the thoughts: the same failed run, with the same message, as without a parser
    (``test_a_refine_reply_cut_while_thinking_is_a_failed_run_not_a_prompt``); no image from an empty prompt."""
    with _thinker(_parser(field, empty), tmp_path) as (pool, server), pool.use("thinker") as adapter:
        trace = run(_ueg(), adapter, "stepwise", GenerationOptions(max_new_tokens=8))
    assert trace.status is Status.ERROR
    assert "refined prompt" in trace.error and "reasoning" in trace.error, trace.error
    assert server.image_prompts == []


@pytest.mark.parametrize("field, empty", PARSERS, ids=PARSER_IDS)
def test_a_parser_served_geu_answer_cut_while_thinking_scores_zero_and_carries_the_note(tmp_path, field, empty):
    """GEU, answer cut inside the thoughts: the model gave no answer (``content`` null), so there is no letter, and
    the official rule scores an empty response 0 (``extract_characters_regex`` finds no letter: the prediction is
    "", never the answer). The run is kept, as without a parser, with a note that says so and names the card file."""
    from realunify_arena.judge import mcq_judgment
    instance = _geu()
    with _thinker(_parser(field, empty), tmp_path) as (pool, server), pool.use("thinker") as adapter:
        trace = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=8))
    assert trace.status is Status.OK, trace.error
    assert trace.steps[-1].text == ""
    assert trace.notes == ["answer cut while reasoning: the answer was cut at 8 tokens (max_new_tokens) while the "
                           "model was still reasoning (its server gave the thoughts apart, with no answer), so it has "
                           "no letter and scores 0, as the official script scores an empty response; raise "
                           f"defaults.max_new_tokens in {tmp_path / 'thinker.yaml'}"]
    details = mcq_judgment(instance, trace.steps[-1].text)
    assert (details.score, details.details["letter"], details.details["strict_letter"]) == (0, None, None)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_a_parser_served_reasoning_model_that_finishes_answers_with_its_content_alone(tmp_path, field):
    """Finished (``finish_reason`` "stop"): the answer is ``content`` alone, never the thoughts, and carries no note;
    the thoughts come with the adapter's reply as its ``reasoning``, apart from the answer."""
    instance = _geu()
    with _thinker(_parser(field, None), tmp_path) as (pool, server), pool.use("thinker") as adapter:
        reply = adapter.understand([], "Please answer the following question: is it a cat?",
                                   GenerationOptions(max_new_tokens=512))
        trace = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=512))
    assert reply == "Yes" and not isinstance(reply, CutReply)
    assert reply.reasoning == THOUGHTS.strip()
    assert trace.status is Status.OK and trace.steps[-1].text == "A" and trace.notes == [], trace


def test_a_parser_served_geu_answer_cut_while_thinking_is_counted_by_eval_and_report(tmp_path, capsys):
    """The cut answer's stored reply is "" (its server gave the thoughts apart), so ``report``, which counted cut
    answers from the stored reply's text alone, missed every one of them; ``eval`` counted them from the trace's
    note. Now the answer parser's judgment records it (``details["cut_while_reasoning"]``, from the run's note)
    and ``report`` counts it as ``eval`` does."""
    from realunify_arena.evaluation import evaluate
    from realunify_arena.store import Store

    db = tmp_path / "arena.db"
    runs = len({i.task_type for i in load("bundled").instances if i.track == "GEU"})
    with _thinker(_parser("reasoning_content", None), tmp_path, max_new_tokens=8) as (pool, server):
        store = Store.open(db)
        try:
            summary = evaluate(load("bundled"), "thinker", AdapterJudge(pool, "thinker"), store, pool,
                               modes=["direct"], track="GEU", limit=1, progress=False)
            assert f"{runs} GEU answer(s) cut at max_new_tokens while the model was still reasoning" in \
                summary.lines()[0], summary.lines()
            assert "none where its server gave the thoughts apart" in summary.lines()[0]  # these have no letter
            details = [j["details"] for j in store.judgments()]
            assert len(details) == runs and all(d["reply"] == "" and d["cut_while_reasoning"] for d in details)
        finally:
            store.close()
    _report_counts_every_answer_cut(db, runs, tmp_path, capsys)


# -- cut just after its thoughts; a parser-served model's thoughts kept with the run ------------------------------


def test_a_geu_answer_cut_just_after_its_thoughts_carries_a_note(tmp_path):
    """Cut at its token limit right after ``</think>`` (``finish_reason`` "length", nothing after the thoughts):
    by its text alone the reply looks finished, so it was stored with no note, its official letter ("B", from
    "The answer is B because") read from the thoughts while the strict parse found none. Now it carries a note
    saying so. The same text finished by the model (``finish_reason`` "stop") carries none: the model chose to
    say nothing after its thoughts. The limit is the stand-in's word count up to and with ``</think>``."""
    from realunify_arena.judge import mcq_judgment

    instance = _geu()
    thought_words = len(GEUThinker.words(None, "")) - 1  # every word but the answer "A" after </think>
    with _thinker(GEUThinker, tmp_path) as (pool, server), pool.use("thinker") as adapter:
        trace = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=thought_words))
    assert trace.status is Status.OK, trace.error
    reply = trace.steps[-1].text
    assert reply.rstrip().endswith("</think>") and isinstance(reply, CutReply)
    assert trace.notes == [f"answer cut while reasoning: the answer was cut at {thought_words} tokens (max_new_tokens) "
                           "just after the model's reasoning ended, before any answer, so its letter comes from its "
                           f"thoughts (the strict parse finds none); raise defaults.max_new_tokens in "
                           f"{tmp_path / 'thinker.yaml'}"]
    details = mcq_judgment(instance, reply).details
    assert (details["letter"], details["strict_letter"]) == ("B", None)

    class FinishedAfterThinking(GEUThinker):
        def words(self, answer: str) -> list[str]:
            return super().words(answer)[:-1]  # the model itself ends after </think>: "stop"

    with _thinker(FinishedAfterThinking, tmp_path) as (pool, server), pool.use("thinker") as adapter:
        finished = run(instance, adapter, "direct", GenerationOptions(max_new_tokens=512))
    assert finished.status is Status.OK and finished.notes == [], finished


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_a_parser_served_models_thoughts_are_stored_with_its_run_not_shown(tmp_path, field, monkeypatch):
    """A reasoning parser gives the thoughts apart (``message.reasoning_content``, or ``message.reasoning``); the
    answer step kept them only in memory (``Reply.reasoning``), so the stored run lost them. Now the step carries
    them (``Step.reasoning``) into the stored trace, read back by ``load_trace``, secrets masked as in the answer;
    what ``/run_instance`` and Explore's details show (``Trace.to_dict(thoughts=False)``) still leaves them out.
    A model served without a parser (its thoughts inside its text) stores no separate thoughts."""
    from realunify_arena.runs import run_and_judge
    from realunify_arena.store import Store

    key = "sk-stand-in-secret-0123456789abcdef"
    monkeypatch.setenv("STAND_IN_API_KEY", key)

    class KeyInThoughts(_parser(field, None)):
        def thoughts(self) -> str:  # the thoughts quote the key, as a model echoing its prompt might
            return f"{THOUGHTS}The key is {key} ."

    instance = _geu()
    store = Store.open(tmp_path / "arena.db")
    try:
        with _thinker(KeyInThoughts, tmp_path) as (pool, server):
            result = run_and_judge(store, pool, "bundled", instance, "thinker", "direct",
                                   GenerationOptions(max_new_tokens=512), "human")
            assert result["status"] == "ok", result
            stored = store.load_trace(result["run_id"])
            assert stored.steps[-1].text == "A"
            assert stored.steps[-1].reasoning == f"{THOUGHTS}The key is *** ."
            raw = store.db.execute("select trace from runs where id = ?", [result["run_id"]]).fetchone()[0]
            assert key not in raw and json.loads(raw)["steps"][-1]["reasoning"].startswith(THOUGHTS.strip()[:40])
            assert all("reasoning" not in step for step in result["trace"]["steps"]), result["trace"]
        with _thinker(GEUThinker, tmp_path) as (pool, server):
            plain = run_and_judge(store, pool, "bundled", instance, "thinker", "direct",
                                  GenerationOptions(max_new_tokens=511), "human")
        assert store.load_trace(plain["run_id"]).steps[-1].reasoning is None
    finally:
        store.close()
