"""UEG polling answers re-derived from the prompt text alone (no recorded parameters), over 200 seeds: a
small reader for each kind of mathematical-reasoning story, and the code-to-image program cut out of the
prompt and run in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys

from realunify_arena.benchmark.generators import generate_set

N = 200
WORDS = {"half": (1, 2), "one third": (1, 3), "two thirds": (2, 3), "a quarter": (1, 4), "three quarters": (3, 4),
         "two fifths": (2, 5), "three fifths": (3, 5)}


def _counts_from_prompt(prompt: str) -> dict[str, int]:
    if m := re.search(r"some ([\w ]+)\. The \1 could be sorted into (\d+) equal piles of (\d+)", prompt):
        return {m[1]: int(m[2]) * int(m[3])}
    if m := re.search(r"started with (\d+) apples\. Then someone added (\d+) times as many pears.*one pear was eaten",
                      prompt):
        return {"apples": int(m[1]), "pears": int(m[1]) * int(m[2]) - 1}
    if m := re.search(r"with (\d+) cars in it\. ([\w ]+) of the cars are red and all the others are blue", prompt):
        num, den = WORDS[m[2].lower()]
        total = int(m[1])
        assert total * num % den == 0
        return {"red cars": total * num // den, "blue cars": total - total * num // den}
    if m := re.search(r"only chickens and cows\. .* there are (\d+) heads and (\d+) legs", prompt):
        heads, legs = int(m[1]), int(m[2])
        solutions = [(c, heads - c) for c in range(heads + 1) if 2 * c + 4 * (heads - c) == legs]
        assert len(solutions) == 1
        return {"chickens": solutions[0][0], "cows": solutions[0][1]}
    if m := re.search(r"holding (\d+) marbles, each either red or green\. .* being red would be ([\w ]+)\.", prompt):
        num, den = WORDS[m[2]]
        total = int(m[1])
        assert total * num % den == 0
        return {"red marbles": total * num // den, "green marbles": total - total * num // den}
    raise AssertionError(f"no reader for prompt {prompt!r}")


def test_mathematical_reasoning_polling_answers_from_the_prompt_text():
    for inst in generate_set(N, 21, ["mathematical_reasoning"]).instances:
        counts = _counts_from_prompt(inst.prompt)
        assert all(n >= 2 for n in counts.values()), (inst.prompt, counts)
        for q in inst.question_list:
            if m := re.fullmatch(r"Are there exactly (\d+) ([\w ]+) in the image\?", q.question):
                expected = "yes" if counts.get(m[2], 0) == int(m[1]) else "no"
            else:
                m = re.fullmatch(r"Are there more ([\w ]+) than ([\w ]+) in the image\?", q.question)
                expected = "yes" if counts[m[1]] > counts[m[2]] else "no"
            assert q.answer == expected, (inst.prompt, q)
        # some asked count must be worked out: not all are written in the prompt as a number to copy
        assert any(f"{n} {thing}" not in inst.prompt for thing, n in counts.items()), inst.prompt


def test_code_to_image_polling_answers_from_the_program_in_the_prompt():
    instances = generate_set(N, 22, ["code_to_image"]).instances
    programs = [inst.prompt.split("\n\n", 1)[1] for inst in instances]
    runner = "import sys\nfor code in sys.argv[1:]:\n    exec(code, {})\n    print('\\x1e')\n"
    result = subprocess.run([sys.executable, "-c", runner, *programs], capture_output=True, text=True, timeout=60,
                            check=True)
    outputs = [chunk.strip("\n") for chunk in result.stdout.split("\x1e")[:-1]]
    assert len(outputs) == len(instances)
    for inst, printed in zip(instances, outputs):
        for q in inst.question_list:
            if m := re.fullmatch(r"Does the image show exactly (\d+) (\w+) (\w+)\?", q.question):
                expected = printed == " ".join(m.groups())
            elif m := re.fullmatch(r"Does the image show any (\w+) (\w+)\?", q.question):
                expected = printed.split(" ", 1)[1] == f"{m[1]} {m[2]}" if printed[0].isdigit() else False
            else:
                m = re.fullmatch(r"Does the image show (a sign that says \w+)\?", q.question)
                expected = printed == m[1]
            assert q.answer == ("yes" if expected else "no"), (printed, q)
        assert {q.answer for q in inst.question_list} == {"yes", "no"}
