"""Generation settings are capped per card with a message naming the limit; the same check in the app's
context (UI and API) and in ``eval``."""

from __future__ import annotations

import pytest

from realunify_arena import cli
from realunify_arena.adapters.base import GenerationOptions
from realunify_arena.cards import load_card, load_cards
from realunify_arena.limits import SEED_MAX, check_options, limits_for

SHIPPED = load_cards()


def test_every_shipped_cards_own_defaults_pass():
    for card in SHIPPED.values():
        assert check_options(card, card.defaults) == card.defaults, card.name


@pytest.mark.parametrize("overrides, message", [
    ({"max_new_tokens": 100000}, "max_new_tokens = 100000 is outside the allowed range 1 to 256 for tiny-janus"),
    ({"max_new_tokens": 0}, "max_new_tokens = 0 is outside the allowed range 1 to 256"),
    ({"steps": 51}, "steps (num_inference_steps) = 51 is outside the allowed range 1 to 50"),
    ({"width": 4096}, "width = 4096 is outside the allowed range 16 to 512"),
    ({"height": 8}, "height = 8 is outside the allowed range 16 to 512"),
    ({"seed": -1}, f"seed = -1 is outside the allowed range 0 to {SEED_MAX}"),
    ({"seed": SEED_MAX + 1}, f"seed = {SEED_MAX + 1} is outside the allowed range 0 to {SEED_MAX}"),
    ({"guidance": -2.5}, "guidance (classifier-free guidance scale) = -2.5 must not be negative"),
    # finite but far past any model's use: tiny-pair at 1e308 made a NaN image stored as a good run (hunt28a);
    # the bound is ComfyUI's KSampler cfg input range, 0.0 to 100.0
    ({"guidance": 100.5}, ("guidance (classifier-free guidance scale) = 100.5 is outside the allowed range 0 to 100"
                           " for tiny-janus")),
    ({"guidance": 1e308}, "guidance (classifier-free guidance scale) = 1e+308 is outside the allowed range 0 to 100"),
    ({"guidance": 10**400}, "guidance (classifier-free guidance scale) = 1000000000000000000000000000000000000..."
                            " is outside the allowed range 0 to 100"),
    ({"temperature": 3.0}, "temperature = 3 is outside the allowed range 0 to 2"),
    # NaN passes every comparison (``nan < 0`` is False), infinity passes "not negative": refused by name
    ({"guidance": float("nan")}, ("guidance (classifier-free guidance scale) = nan is not allowed for tiny-janus: "
                                  "it must be a finite number from 0 to 100")),
    ({"guidance": float("inf")}, "guidance (classifier-free guidance scale) = inf is not allowed"),
    ({"guidance": float("-inf")}, "guidance (classifier-free guidance scale) = -inf is not allowed"),
    ({"temperature": float("nan")}, ("temperature = nan is not allowed for tiny-janus: it must be a finite number "
                                     "from 0 to 2")),
    ({"temperature": float("inf")}, "temperature = inf is not allowed"),
    # an API caller's JSON: a fraction where a whole number goes, text, a boolean
    ({"seed": 1.5}, "seed = 1.5 is not allowed for tiny-janus: it must be a whole number"),
    ({"steps": 2.25}, "steps (num_inference_steps) = 2.25 is not allowed for tiny-janus: it must be a whole number"),
    ({"seed": "abc"}, "seed = 'abc' is not allowed for tiny-janus: it must be a number"),
    ({"max_new_tokens": True}, "max_new_tokens = True is not allowed for tiny-janus: it must be a number"),
    ({"guidance": "5"}, "guidance (classifier-free guidance scale) = '5' is not allowed for tiny-janus: it must be"
                        " a number"),
    # JSON integers have no size limit: 10**400 is refused by name, not an OverflowError from float()
    ({"seed": 10**400}, f"seed = {'1' + '0' * 36}... is outside the allowed range 0 to {SEED_MAX}"),
    ({"width": -10**400}, "width = -100000000000000000000000000000000000... is outside the allowed range 16 to 512"),
    ({"temperature": 10**400}, "temperature = 1000000000000000000000000000000000000... is outside the allowed range"),
    ({"guidance": -10**400}, "guidance (classifier-free guidance scale) = -100000000000000000000000000000000000..."
                             " must not be negative"),
])
def test_a_setting_past_its_limit_is_refused_naming_the_limit(overrides, message):
    card = SHIPPED["tiny-janus"]
    with pytest.raises(ValueError) as refused:
        check_options(card, card.options(**overrides))
    assert message in str(refused.value)


@pytest.mark.parametrize("overrides, said", [
    # %g keeps 6 significant digits: 100.0000000000001 read "= 100 is outside the allowed range 0 to 100"
    ({"guidance": 100.0000000000001}, "= 100.0000000000001 is outside the allowed range 0 to 100"),
    ({"temperature": 2.0000001}, "= 2.0000001 is outside the allowed range 0 to 2"),
    ({"steps": 5.0000001}, "= 5.0000001 is not allowed for tiny-janus: it must be a whole number"),
])
def test_a_value_just_past_a_limit_is_shown_as_written_not_rounded_onto_it(overrides, said):
    card = SHIPPED["tiny-janus"]
    with pytest.raises(ValueError) as refused:
        check_options(card, card.options(**overrides))
    assert said in str(refused.value)


def test_a_whole_number_sent_as_a_float_is_taken_as_that_integer():
    card = SHIPPED["tiny-janus"]
    options = check_options(card, card.options(seed=7.0, steps=3.0, width=32.0))
    assert (options.seed, options.steps, options.width) == (7, 3, 32)
    assert all(type(v) is int for v in (options.seed, options.steps, options.width))


def test_the_edges_pass_and_real_cards_allow_more_than_tiny_ones():
    tiny, real = SHIPPED["tiny-pair"], SHIPPED["qwen-image"]
    check_options(tiny, tiny.options(max_new_tokens=256, steps=50, width=512, height=16, seed=SEED_MAX, guidance=0.0))
    check_options(tiny, tiny.options(guidance=100.0))
    check_options(real, real.options(max_new_tokens=4096, steps=250, width=2048))
    with pytest.raises(ValueError, match="1 to 4096 for qwen-image"):
        check_options(real, real.options(max_new_tokens=4097))


def test_a_card_sets_its_own_limits_and_a_wrong_name_is_named(tmp_path):
    path = tmp_path / "capped.yaml"
    path.write_text("family: janus\ndescription: d\ncapabilities: [understand]\ncheckpoint: org/m\n"
                    "params: {limits: {max_new_tokens: 300}}\n")
    card = load_card(path)
    assert limits_for(card).max_new_tokens == 300
    with pytest.raises(ValueError, match="1 to 300 for capped"):
        check_options(card, GenerationOptions(max_new_tokens=301))
    path.write_text("family: janus\ndescription: d\ncapabilities: [understand]\ncheckpoint: org/m\n"
                    "params: {limits: {max_tokens: 300}}\n")
    with pytest.raises(ValueError, match=r"params.limits.*unknown \['max_tokens'\]"):
        limits_for(load_card(path))


def test_eval_refuses_a_seed_outside_the_range_before_running_anything(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = cli.main(["eval", "--model", "tiny-janus", "--judge", "tiny-pair", "--seed", "-1",
                     "--db", str(tmp_path / "arena.db")])
    assert code == 2
    assert f"--seed -1: outside the allowed range 0 to {SEED_MAX}" in capsys.readouterr().err
    assert not (tmp_path / "arena.db").exists()


class _Pool:
    device = "cpu"

    def __init__(self, cards):
        self.cards = cards


def _context(tmp_path):
    from realunify_arena.arena import Arena
    from realunify_arena.context import AppContext
    from realunify_arena.settings import Settings
    from realunify_arena.store import Store

    store = Store.open(tmp_path / "arena.db")
    settings = Settings(models=("tiny-janus", "tiny-pair", "qwen2.5-vl-7b"), judge="human", db=tmp_path / "arena.db")
    return AppContext(settings, store, _Pool(SHIPPED), Arena(store))


def test_explore_fields_hold_the_cards_defaults_and_empty_or_zero_keeps_them(tmp_path):
    """A browser sends an empty number field as 0: 0 steps or max new tokens (never valid) is the card's
    default, as an empty field is; the fields show each card's defaults and hide what it does not take."""
    from realunify_arena.ui.explore import _user_options, settings_fields

    ctx = _context(tmp_path)
    janus, pair = SHIPPED["tiny-janus"].defaults, SHIPPED["tiny-pair"].defaults
    for empty in (None, "", 0):
        assert _user_options(ctx, "tiny-janus", 0, empty, None, empty) == janus
        assert _user_options(ctx, "tiny-pair", 0, empty, None, empty) == pair
    # settings a card does not take are ignored (Janus has no diffusion steps), set ones are kept
    assert _user_options(ctx, "tiny-janus", 3, 7, 2.0, 16) == SHIPPED["tiny-janus"].options(
        seed=3, guidance=2.0, max_new_tokens=16)
    assert _user_options(ctx, "tiny-pair", 0, 3, 0, 0).steps == 3
    assert _user_options(ctx, "tiny-pair", 0, 3, 0, 0).guidance == 0.0  # 0 guidance is a real setting

    fields = {name: settings_fields(ctx, name) for name in ("tiny-janus", "tiny-pair", "qwen2.5-vl-7b")}
    assert [(f["value"], f["visible"]) for f in fields["tiny-janus"]] == [(None, False), (5.0, True), (8, True)]
    assert [(f["value"], f["visible"]) for f in fields["tiny-pair"]] == [(2, True), (3.0, True), (8, True)]
    assert [f["visible"] for f in fields["qwen2.5-vl-7b"]] == [False, False, True]  # understands only


def test_explore_refuses_a_non_finite_setting_naming_it(tmp_path):
    import gradio as gr

    from realunify_arena.ui.explore import _user_options

    with pytest.raises(gr.Error, match=r"guidance \(classifier-free guidance scale\) = nan is not allowed"):
        _user_options(_context(tmp_path), "tiny-janus", 0, None, float("nan"), None)


def test_a_link_with_a_malformed_seed_changes_no_seed_and_raises_nothing(tmp_path):
    """``?seed=--5``, ``?seed=²`` or 5000 digits passed the digit test (``lstrip('-').isdigit()``) and then int() raised,
    so the page's load event failed and none of the link's other values (model, instance) were applied."""
    import gradio as gr

    from realunify_arena.ui.explore import updates_from_url

    ctx = _context(tmp_path)
    for bad in ("--5", "²", "1e3", "", "seven", "1" * 5000):
        updates = updates_from_url(ctx, {"model": "tiny-janus", "seed": bad})
        assert updates[-1] is gr.skip() or updates[-1] == gr.skip(), bad  # the seed field is left as it is
        assert updates[-3] == gr.update(value="tiny-janus")  # the rest of the link still applies
    for outside in ("-3", str(2**32)):  # a seed Run would refuse: named when the page opens, the field kept
        with pytest.warns(UserWarning, match=f"seed '?{outside}'? is not a whole number from 0 to {2**32 - 1}"):
            seed_update = updates_from_url(ctx, {"seed": outside})[-1]
        assert seed_update is gr.skip() or seed_update == gr.skip(), outside
    assert updates_from_url(ctx, {"seed": str(2**32 - 1)})[-1] == gr.update(value=2**32 - 1)
    assert updates_from_url(ctx, {"seed": "12"})[-1] == gr.update(value=12)


def test_a_link_naming_a_model_this_app_does_not_offer_says_so(tmp_path):
    """An arena side of imported runs links to Explore with its model, which is no card here: the page used
    to open silently on the default model, so Run ran another model than the link named."""
    import gradio as gr

    from realunify_arena.ui.explore import updates_from_url

    ctx = _context(tmp_path)
    with pytest.warns(UserWarning, match="names model 'imported-model', which this app does not offer"):
        updates = updates_from_url(ctx, {"model": "imported-model", "seed": "4"})
    assert updates[-3] is gr.skip() or updates[-3] == gr.skip()  # the model menu is left as it is
    assert updates[-1] == gr.update(value=4)  # the rest of the link still applies


# 100,000 characters a link or a caller may send: its start and end as a bounded repr shows them (27
# characters after the opening quote, "...", the last 28 before the closing one), never the whole
LONG = "<b>" + "A" * 50_000 + "B" * 50_000 + "</b>"
LONG_SHOWN = "'<b>" + "A" * 24 + "..." + "B" * 24 + "</b>'"


def _one_warning(record) -> str:
    assert len(record) == 1, [str(w.message) for w in record]
    return str(record[0].message)


@pytest.mark.parametrize("param, said", [("instance", "The link names instance"),
                                         ("model", "The link names model")])
def test_a_link_with_a_very_long_value_shows_it_shortened_in_its_warning(tmp_path, param, said):
    """``?instance=`` and ``?model=`` with 100,000 characters put all of them in the page's warning."""
    from realunify_arena.ui.explore import updates_from_url

    ctx = _context(tmp_path)
    with pytest.warns(UserWarning) as record:
        updates_from_url(ctx, {param: LONG})
    message = _one_warning(record)
    assert LONG_SHOWN.replace("<", "&lt;").replace(">", "&gt;") in message  # shortened, and escaped
    assert message.startswith(f"{said} {LONG_SHOWN[:1]}&lt;b&gt;") and len(message) < 400, message[:400]


def test_a_direct_call_naming_a_very_long_model_or_dataset_is_refused_in_one_short_line(tmp_path):
    """A browser's direct call of Run's events sends anything as the model menu's value or as the held
    (dataset, instance) reference; each refusal quoted all of it."""
    import gradio as gr

    from realunify_arena.benchmark.custom import custom_instance
    from realunify_arena.ui.explore import _held, _user_options

    ctx = _context(tmp_path)
    for refuse in (lambda: _user_options(ctx, LONG, 0, None, None, None), lambda: _held(ctx, (LONG, "UEG_1_x", "r"))):
        with pytest.raises(gr.Error) as caught:
            refuse()
        assert LONG_SHOWN.replace("<", "&lt;").replace(">", "&gt;") in caught.value.message
        assert len(caught.value.message) < 400, caught.value.message[:400]
    with pytest.raises(ValueError) as caught:  # Run's own-instance track (a radio button's value)
        custom_instance(LONG, "all", "a prompt", None, "", "", "")
    assert LONG_SHOWN in str(caught.value) and len(str(caught.value)) < 400, str(caught.value)[:400]


@pytest.fixture(scope="module")
def served_tiny_pair():
    """``serve-openai``'s app for tiny-pair (limits: TINY_LIMITS) on a real loopback port."""
    from realunify_arena.runtime import ModelPool
    from realunify_arena.serving import BackgroundServer, create_app

    pool = ModelPool(load_cards(), device="cpu")
    with BackgroundServer(create_app(pool, "tiny-pair")) as server:
        yield server.url
    pool.close()


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.slow
@pytest.mark.parametrize("path, body, param, message", [
    ("chat/completions", {"messages": HI, "max_tokens": 100000}, "max_tokens",
     "'max_tokens': max_new_tokens = 100000 is outside the allowed range 1 to 256 for tiny-pair"),
    ("chat/completions", {"messages": HI, "max_completion_tokens": 0, "max_tokens": 8}, "max_completion_tokens",
     "'max_completion_tokens': max_new_tokens = 0 is outside the allowed range 1 to 256"),
    ("chat/completions", {"messages": HI, "seed": 10**400}, "seed",
     f"'seed': seed = {'1' + '0' * 36}... is outside the allowed range 0 to {SEED_MAX} for tiny-pair"),
    ("chat/completions", {"messages": HI, "temperature": 2.5}, "temperature",
     "'temperature': temperature = 2.5 is outside the allowed range 0 to 2"),
    ("images/generations", {"prompt": "a cube", "seed": -1}, "seed",
     f"'seed': seed = -1 is outside the allowed range 0 to {SEED_MAX}"),
    ("images/generations", {"prompt": "a cube", "size": "4096x64"}, "size",
     "'size': width = 4096 is outside the allowed range 16 to 512"),
    ("images/generations", {"prompt": "a cube", "num_inference_steps": 51}, "num_inference_steps",
     "'num_inference_steps': steps (num_inference_steps) = 51 is outside the allowed range 1 to 50"),
    ("images/generations", {"prompt": "a cube", "guidance_scale": -1}, "guidance_scale",
     "'guidance_scale': guidance (classifier-free guidance scale) = -1 must not be negative"),
    ("images/generations", {"prompt": "a cube", "seed": "abc"}, "seed",
     "Invalid type for 'seed': expected an integer, but got a string instead"),
])
def test_serve_openai_refuses_a_setting_past_the_cards_limit_with_an_openai_400(served_tiny_pair, path, body,
                                                                               param, message):
    """Before: the loopback server ran whatever was asked (100000 tokens, a 10**400 seed) on the card."""
    import httpx

    reply = httpx.post(f"{served_tiny_pair}/{path}", json=body, timeout=30)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert message in error["message"]
    assert (error["param"], error["type"]) == (param, "invalid_request_error")
    assert "Traceback" not in reply.text


@pytest.mark.slow
def test_serve_openai_runs_a_request_at_the_limit_and_an_edit_past_it_is_refused(served_tiny_pair):
    import base64
    import io

    import httpx
    from PIL import Image

    from realunify_arena.adapters.wire import png_bytes

    source = png_bytes(Image.new("RGB", (32, 32), (200, 30, 30)))
    edit = httpx.post(f"{served_tiny_pair}/images/edits", data={"prompt": "blue", "seed": str(SEED_MAX + 1)},
                      files={"image": ("x.png", source, "image/png")}, timeout=30)
    assert edit.status_code == 400 and edit.json()["error"]["param"] == "seed", edit.text
    at_limit = httpx.post(f"{served_tiny_pair}/images/generations", timeout=120, json={
        "prompt": "a cube", "seed": SEED_MAX, "size": "16x16", "num_inference_steps": 1, "guidance_scale": 0})
    assert at_limit.status_code == 200, at_limit.text
    assert Image.open(io.BytesIO(base64.b64decode(at_limit.json()["data"][0]["b64_json"]))).size == (16, 16)


def test_an_edit_size_is_checked_only_where_the_edit_is_made_at_that_size():
    """A pair edit keeps its input's size (``edit_size: input``, the default), so serve-openai's
    ``/v1/images/edits`` neither checks nor passes a size: 1000x1000 on flux-kontext was refused with "it makes
    992x992" although the edit comes out at the input's size. With ``edit_size: card`` the size is the card's
    rule, and a generation is checked as before."""
    import dataclasses

    from realunify_arena.serving import ImageRequest, RequestError

    kontext = SHIPPED["flux-kontext"]
    edit = ImageRequest(prompt="make it blue", size="1000x1000").options(kontext, edit=True)
    assert (edit.width, edit.height) == (kontext.defaults.width, kontext.defaults.height)
    sized = dataclasses.replace(kontext, params={**kontext.params, "edit_size": "card"})
    for card, kwargs in ((kontext, {}), (sized, {"edit": True})):
        with pytest.raises(RequestError, match="size 1000x1000 is not allowed for flux-kontext: it makes size"
                                               " 992x992"):
            ImageRequest(prompt="a cube", size="1000x1000").options(card, **kwargs)


# (card, asked width, asked height) -> the size the model makes instead, worked out by hand: Janus-Pro decodes
# a fixed 24x24 grid of 16-px tokens (384x384; the tiny Janus 4x4 of 8 px, 32x32); Emu3 rounds each side to
# whole 8-px tokens (500 / 8 = 62.5 -> 62 tokens = 496 px, 300 / 8 = 37.5 -> 38 = 304 px; round half to even).
@pytest.mark.parametrize("name, width, height, made, setting", [
    ("janus-pro-1b", 512, 512, "size 384x384", "width"),
    ("janus-pro-7b", 384, 768, "size 384x384", "height"),
    ("tiny-janus", 64, 64, "size 32x32", "width"),
    ("emu3", 500, 300, "size 496x304", "width"),
    ("emu3", None, 300, "height 304", "height"),
    ("tiny-emu3", 38, 32, "size 40x32", "width"),  # 38 / 8 = 4.75 -> 5 tokens
    # a pair's diffusers pipeline rounds each side down to a multiple of 16 (diffusers' FLUX/Qwen-Image/OmniGen
    # prepare_latents: 2 * (side // (8 * 2)) latents of 8 px): 500 -> 496, 300 -> 288, 1000 -> 992, 40 -> 32
    ("qwen-image", 500, 300, "size 496x288", "width"),
    ("flux-kontext", 1024, 1000, "size 1024x992", "height"),
    ("tiny-pair", 40, 24, "size 32x16", "width"),
])
def test_a_size_the_model_cannot_make_is_refused_naming_what_it_makes(name, width, height, made, setting):
    card = SHIPPED[name]
    with pytest.raises(ValueError) as info:
        check_options(card, card.options(width=width, height=height))
    asked = f"size {width}x{height}" if width is not None else f"height {height}"
    message = str(info.value)
    assert message.startswith(f"{asked} is not allowed for {name}: it makes {made} instead")
    assert "\n" not in message and info.value.setting == setting


@pytest.mark.parametrize("name, width, height", [("janus-pro-1b", 384, 384), ("emu3", 512, 296),
                                                  ("emu3", 1024, 576), ("qwen-image", 496, 288),
                                                  ("tiny-pair", 48, 16), ("oracle-und-gen", 1024, 1536)])
def test_sizes_the_model_makes_pass(name, width, height):
    card = SHIPPED[name]
    options = check_options(card, card.options(width=width, height=height))
    assert (options.width, options.height) == (width, height)


def test_an_api_image_request_for_a_size_janus_cannot_make_is_a_400_naming_size():
    """serve-openai's images request (``size: WIDTHxHEIGHT``) goes through the same check: a 400 on 'size'."""
    from realunify_arena.serving import ImageRequest, RequestError

    with pytest.raises(RequestError) as info:
        ImageRequest(prompt="a cube", size="512x512").options(SHIPPED["janus-pro-7b"])
    assert info.value.status == 400 and info.value.param == "size"
    assert info.value.message == ("'size': size 512x512 is not allowed for janus-pro-7b: it makes size 384x384 "
                                  "instead (one fixed grid of image tokens); ask for that or leave the size unset")


def test_several_bad_settings_are_all_named_in_one_refusal():
    """Before: the check stopped at the first bad setting, so a form with max_new_tokens and seed both out of
    range was refused for one of them, and the next try for the other."""
    card = SHIPPED["tiny-janus"]
    with pytest.raises(ValueError) as refused:
        check_options(card, card.options(max_new_tokens=100000, seed=-1, temperature=float("nan")))
    message = str(refused.value)
    for part in ("max_new_tokens = 100000 is outside the allowed range 1 to 256 for tiny-janus",
                 f"seed = -1 is outside the allowed range 0 to {SEED_MAX} for tiny-janus",
                 "temperature = nan is not allowed for tiny-janus"):
        assert part in message, message
    assert "\n" not in message and refused.value.settings == ("seed", "max_new_tokens", "temperature")
    # a size out of range is named once (not again as a size the family cannot make)
    pair = SHIPPED["tiny-pair"]
    with pytest.raises(ValueError) as refused:
        check_options(pair, pair.options(width=4096, steps=51))
    assert str(refused.value) == ("steps (num_inference_steps) = 51 is outside the allowed range 1 to 50 for "
                                  "tiny-pair; width = 4096 is outside the allowed range 16 to 512 for tiny-pair")


def test_explore_names_every_bad_setting_of_its_form(tmp_path):
    """Explore's Run with max new tokens and seed both out of range: the refusal names both."""
    import gradio as gr

    from realunify_arena.ui.explore import _user_options

    with pytest.raises(gr.Error) as refused:
        _user_options(_context(tmp_path), "tiny-janus", SEED_MAX + 1, None, -1.0, 100000)
    message = refused.value.message
    for part in (f"seed = {SEED_MAX + 1} is outside", "guidance (classifier-free guidance scale) = -1 must not be",
                 "max_new_tokens = 100000 is outside"):
        assert part in message, message


def test_a_card_with_several_bad_defaults_names_each_field(tmp_path):
    from realunify_arena.cards import CardError

    path = tmp_path / "twice.yaml"
    path.write_text("family: janus\ndescription: d\ncapabilities: [understand]\ncheckpoint: org/m\n"
                    "defaults: {max_new_tokens: 0, seed: -5}\n")
    with pytest.raises(CardError) as refused:
        load_card(path)
    message = str(refused.value)
    assert f"{path}: fields 'defaults.seed', 'defaults.max_new_tokens':" in message, message
    assert "seed = -5 is outside" in message and "max_new_tokens = 0 is outside" in message


def test_the_guidance_bound_is_100_unless_a_card_raises_it(tmp_path):
    assert limits_for(SHIPPED["janus-pro-7b"]).guidance == limits_for(SHIPPED["tiny-pair"]).guidance == 100.0
    path = tmp_path / "raised.yaml"
    path.write_text("family: tiny\ndescription: d\ncapabilities: [generate]\ndtype: float32\n"
                    "defaults: {width: 32, height: 32, steps: 2, guidance: 3.0}\n"
                    "params: {base: pair, seed: 0, limits: {guidance: 200}}\n")
    card = load_card(path)
    assert check_options(card, card.options(guidance=150.0)).guidance == 150.0
    with pytest.raises(ValueError, match="outside the allowed range 0 to 200 for raised"):
        check_options(card, card.options(guidance=200.5))
