"""Instances read as they were written: instance text escaped with its line breaks, code-to-image programs as
code blocks, "Judge it yourself" only where there is something to judge.

The oracle is an independent CommonMark renderer (markdown-it-py, with raw HTML on, as a browser would
get it): the rendered text must equal the text as written, with no element our text did not ask for.
"""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from realunify_arena.benchmark import load
from realunify_arena.benchmark.schema import GEUInstance, PollingQuestion, UEGInstance
from realunify_arena.page_links import explore_query
from realunify_arena.ui.render import (
    code_block, instance_label, instance_markdown, instance_text_markdown, verdict_markdown,
)

MD = MarkdownIt("commonmark", {"html": True}).enable("table")
HOSTILE = [
    "<script>alert(1)</script> and <img src=x onerror=alert(2)>",
    "**bold** _it_ `code` [link](http://example.com) ![img](x.png) ~~gone~~",
    "# heading\n- item\n1. first\n> quote\n---\n===\n| a | b |\n|---|---|",
    "    four spaces\n\ttab\n\n\nthree blank lines above\n",
    "a & b &amp; &lt;c&gt; \\*not bold\\* $$x^2$$ https://example.com www.example.com user@example.com",
    "line one\r\nline two\rline three",
]


def _text_of(rendered: str) -> str:
    """The text a reader sees: <br> as a line break, tags dropped, entities decoded, nbsp as a space
    (a line of spaces reads as the blank line it is)."""
    text = re.sub(r"<br\s*/?>\n?", "\n", rendered)
    text = re.sub(r"</p>\s*<p>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text).replace("\u00a0", " ").strip("\n")
    return "\n".join("" if not line.strip() else line for line in text.split("\n"))


@pytest.mark.parametrize("text", HOSTILE)
def test_instance_text_renders_as_written_with_no_markup_of_its_own(text):
    rendered = MD.render(instance_text_markdown(text))
    tags = set(re.findall(r"<\s*([a-zA-Z]+)", rendered))
    assert tags <= {"p", "br"}, rendered  # no link, image, script, heading, list, emphasis, code
    written = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n").replace("\t", "    ")
    assert _text_of(rendered) == written


def test_in_a_table_cell_every_line_break_stays_in_the_cell():
    cell = instance_text_markdown("first | line\nsecond <b>line</b>", table_cell=True)
    row = f"| {cell} | x |"
    rendered = MD.render("| q | v |\n|---|---|\n" + row)
    cells = re.findall(r"<td>(.*?)</td>", rendered, re.DOTALL)
    assert len(cells) == 2 and cells[1] == "x"
    assert _text_of(cells[0]) == "first | line\nsecond <b>line</b>"


def _code_blocks(rendered: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", rendered, re.DOTALL)]


def test_every_bundled_code_to_image_program_is_one_code_block_with_its_lines_and_indentation():
    programs = [i for i in load("bundled").instances if i.task_type == "code_to_image"]
    assert len(programs) == 12
    for inst in programs:
        instruction, program = inst.prompt.split("\n\n", 1)  # how the bundled prompts are written
        rendered = MD.render(instance_markdown(inst, with_questions=True))
        assert _code_blocks(rendered) == [program.rstrip("\n") + "\n"], inst.uid
        assert instruction in _text_of(rendered.split("<pre>")[0])
        assert "\n" in program and program.rstrip("\n") in instance_markdown(inst, with_questions=False)
        # the menu shows the program, not the instruction all twelve share
        assert instance_label(inst).startswith(f"{inst.uid}: {' '.join(program.split())[:20]}")


def test_a_program_with_blank_lines_and_text_after_it_and_a_fenced_one():
    program = "def f(x):\n    return x * 3\n\n\nprint(f(2), 'red kites')"
    inst = UEGInstance(index=1, task_type="code_to_image", question_list=[],
                       prompt=f"Draw what this prints.\n\n{program}\n\nUse a white background.")
    rendered = MD.render(instance_markdown(inst, with_questions=False))
    assert _code_blocks(rendered) == [program + "\n"]
    assert rendered.index("Draw what this prints.") < rendered.index("<pre>") < rendered.index("Use a white")
    fenced = UEGInstance(index=2, task_type="world_knowledge", question_list=[],
                         prompt="Before\n```python\nx = '```'\n```\nafter <i>")
    rendered = MD.render(instance_markdown(fenced, with_questions=False))
    assert _code_blocks(rendered) == ["x = '```'\n"] and "after &lt;i&gt;" in rendered
    assert _code_blocks(MD.render(code_block("a ```` b"))) == ["a ```` b\n"]


def test_geu_question_and_options_and_polling_questions_are_escaped():
    geu = GEUInstance(index=3, task_type="mental_tracking", question="Which <b>digit</b>?\nLook closely.",
                      option=["*one*", "two\nlines", "[3](http://x)", "# four"], answer="A", image_bytes=b"")
    rendered = MD.render(instance_markdown(geu, with_questions=True))
    assert "<b>" not in rendered and "<em>" not in rendered and "<a " not in rendered and "<h1>" not in rendered
    assert "Which &lt;b&gt;digit&lt;/b&gt;?<br />\nLook closely." in rendered
    assert rendered.count("<li>") == 4
    ueg = UEGInstance(index=4, task_type="world_knowledge", prompt="p",
                      question_list=[PollingQuestion("Is it <u>red</u>?", "yes")])
    assert "Is it &lt;u&gt;red&lt;/u&gt;?" in MD.render(instance_markdown(ueg, with_questions=True))


def test_judge_it_yourself_is_offered_only_where_the_panel_is():
    ueg = UEGInstance(index=5, task_type="world_knowledge", prompt="p",
                      question_list=[PollingQuestion("Is it red?", "yes")])
    assert "Judge it yourself" in verdict_markdown(None, ueg, judge="human", judge_here=True)
    assert "Judge it yourself" not in verdict_markdown(None, ueg, judge="human", judge_here=False)
    failed = verdict_markdown(None, ueg, judge="human", judge_here=False, has_output=False)
    assert "nothing to judge" in failed and "Judge it yourself" not in failed
    no_questions = UEGInstance(index=6, task_type="world_knowledge", prompt="p", question_list=[])
    assert "nothing to judge" in verdict_markdown(None, no_questions, judge="human")


def test_the_human_verdict_says_which_tie_left_it_undecided(tmp_path):
    """Two voters, one of them an old store's score-only judgment (no per-question answers): 1 to 1 on their
    scores. No polling question was voted on by all, so the page must not say a question was tied."""
    from realunify_arena.store import Store
    from realunify_arena.trace import Step, StepRole, Trace

    ueg = UEGInstance(index=7, task_type="world_knowledge", prompt="p",
                      question_list=[PollingQuestion("Is it red?", "yes")])
    store = Store.open(tmp_path / "arena.db")
    run_id = store.save_trace(Trace(ueg.uid, "m", "direct", {}, [Step(StepRole.GENERATED_IMAGE, "p")]), "bundled")
    store.save_human_judgment(run_id, "legacy", {"kind": "polling", "score": 0, "details": {}})
    store.save_human_judgment(run_id, "hf:a", {"kind": "polling", "score": 1, "details": {"questions": [
        {"question": "Is it red?", "expected": "yes", "verdict": "yes", "correct": True}]}})
    shown = verdict_markdown(store.human_verdict(run_id), ueg, judge="human")
    store.close()
    assert "undecided" in shown and "polling question" not in shown.split("(")[1]


def test_an_explore_link_carries_instance_model_seed_and_is_url_encoded():
    query = explore_query("/data/Real Unify&co", "UEG_3_world_knowledge", model="tiny-janus", seed=2)
    assert query == ("?tab=explore&data=%2Fdata%2FReal+Unify%26co&instance=UEG_3_world_knowledge"
                     "&model=tiny-janus&seed=2")


def test_a_polling_question_never_asked_reads_as_not_asked_not_as_unparseable():
    """A runner that stopped at the first wrong verdict never asked the rest: the verdict table says so, and
    keeps "unparseable" for a question that was asked and got no yes/no."""
    from realunify_arena.judge import polling_judgment
    questions = [PollingQuestion("Is it red?", "yes"), PollingQuestion("Is it round?", "yes"),
                 PollingQuestion("Is it big?", "no")]
    ueg = UEGInstance(index=7, task_type="world_knowledge", prompt="p", question_list=questions)
    judgment = polling_judgment(questions, [["No"], ["maybe"], []], "judge_answer").to_dict()
    rows = [line for line in verdict_markdown(judgment, ueg, judge="judge_answer").splitlines()
            if line.startswith("| Is it")]
    assert [row.rstrip(" |").rsplit("| ", 1)[-1] for row in rows] == ["wrong", "unparseable", "not asked"]
