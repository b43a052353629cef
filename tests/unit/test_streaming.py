"""``ui.streaming``: a run's frames reach the browser merged in bursts, never held back for a fixed time."""

from __future__ import annotations

import contextvars
import threading
import time

import gradio as gr
import pytest

from realunify_arena.stopping import RunControl
from realunify_arena.ui.streaming import merge_frames, paced, relay


def test_merging_keeps_what_a_skip_leaves_and_adds_update_properties():
    earlier = ["img-1", gr.update(value="a", visible=True), "text", gr.update(visible=False)]
    later = [gr.skip(), "b", gr.update(visible=True), gr.update(value="v")]
    assert merge_frames(earlier, later) == [
        "img-1",  # skipped later: the earlier image stays
        {"__type__": "update", "value": "b", "visible": True},  # a new value; the earlier visibility stays
        {"__type__": "update", "value": "text", "visible": True},  # a property change; the earlier value stays
        {"__type__": "update", "value": "v", "visible": False},
    ]
    assert merge_frames(["x"], [gr.update(value="y")]) == [{"__type__": "update", "value": "y"}]
    assert merge_frames("state 1", "state 2") == "state 2"  # a whole state: the newest replaces it


def test_a_burst_is_merged_and_the_last_frame_is_never_held_back():
    frames = [["image", "step 1"], [gr.skip(), "step 2"], ["final image", gr.skip()]]
    start = time.monotonic()
    shown = list(paced(iter(frames), gap_s=30.0))
    elapsed = time.monotonic() - start
    assert shown == [["image", "step 1"], ["final image", "step 2"]]  # nothing any frame changed is lost
    assert elapsed < 10.0  # far less than the 30 s gap: the last frame went out as soon as it existed


def test_frames_further_apart_than_the_gap_are_each_sent_as_they_come():
    def slow():
        for i in range(3):
            if i:
                time.sleep(1.0)
            yield [i]

    assert list(paced(slow(), gap_s=0.05)) == [[0], [1], [2]]


EVENT = contextvars.ContextVar("event")


def test_frames_are_produced_on_a_thread_of_their_own_and_errors_reach_the_consumer():
    threads, events = [], []

    def frames():
        threads.append(threading.current_thread())
        events.append(EVENT.get(None))  # Gradio keeps its per-event context (gr.Warning, the request) in these
        yield [1]
        raise gr.Error("the model failed")

    EVENT.set("event 7")
    with pytest.raises(gr.Error, match="the model failed"):
        list(paced(frames()))
    assert threads and threads[0] is not threading.current_thread()
    assert events == ["event 7"]
    assert list(relay(iter([1, 2]))) == [1, 2]


def test_a_stopped_run_that_ends_in_time_is_relayed_to_its_last_item():
    control = RunControl()

    def run():
        yield "step 1"
        while not control.stopped:  # a model checking its control at each step
            time.sleep(0.01)
        yield "stopped trace"

    items = relay(run(), control, grace_s=5.0)
    assert next(items) == "step 1"
    control.stop()
    assert list(items) == ["stopped trace"]


def test_a_stopped_run_stuck_in_a_call_is_given_up_after_the_grace():
    control, release = RunControl(), threading.Event()

    def loading():
        yield "loading"
        release.wait(30)  # a model load that checks nothing
        yield "never relayed"

    items = relay(loading(), control, grace_s=0.3)
    assert next(items) == "loading"
    control.stop()
    started = time.monotonic()
    assert list(items) == []
    assert time.monotonic() - started < 5.0  # the handler can say "stopped" long before the load ends
    release.set()


def test_an_update_yielded_again_is_sent_again_with_its_value():
    """arena27: Gradio takes an update's ``value`` out of the dict it is given (``postprocess_update_dict``
    pops it), so a handler re-yielding an update it did not change (the Arena's column of the side that had
    not progressed) sent it without its value, and the stream's diff said "delete value" for that column
    alone. Each frame ``paced`` sends is Gradio's to change: the handler's own updates stay whole."""
    from gradio.blocks import postprocess_update_dict

    unchanged = gr.update(value="**B**: working…")
    frames = [[gr.update(value="**A**: working…"), unchanged], [gr.update(value="**A**: done"), unchanged]]
    box = gr.Markdown()
    sent = [[postprocess_update_dict(box, value) for value in frame]  # as Gradio postprocesses each yield
            for frame in paced(iter(frames), gap_s=0)]
    assert [[value.get("value") for value in frame] for frame in sent] == [
        ["**A**: working…", "**B**: working…"], ["**A**: done", "**B**: working…"]]
    assert unchanged == {"__type__": "update", "value": "**B**: working…"}
