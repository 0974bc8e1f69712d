"""The docks' worker signals are handled in order and never one inside another (`_widgets.signal_queue`)."""

from napari_deepcolor._widgets.signal_queue import SignalQueue


def test_a_signal_arriving_inside_a_handler_waits_for_it_to_end():
    calls = []

    def dispatch(name):
        calls.append(f"start {name}")
        if name == "a":
            queue.put("b")  # e.g. a progress bar processed events and the worker's next signal came in
            with queue.exclusive() as free:
                assert not free  # other GUI work must not run inside a handler either
        calls.append(f"end {name}")

    queue = SignalQueue(dispatch)
    queue.put("a")
    assert calls == ["start a", "end a", "start b", "end b"]


def test_work_run_exclusively_holds_signals_until_drained():
    seen = []
    queue = SignalQueue(seen.append)
    with queue.exclusive() as free:
        assert free
        queue.put(1)
        queue.put(2)
        assert seen == []
    queue.drain()
    assert seen == [1, 2] and not queue.busy
    queue.put(3)
    assert seen == [1, 2, 3]
