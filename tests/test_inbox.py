"""The Inbox alone: bounded queues, alignment by frame index, back edges, leaky policies."""
import threading

from graphrun.runtime.inbox import END, Inbox, Packet


def pkt(i, value=None):
    return Packet(i, float(i), i if value is None else value, None, 0.0)


def make(queues, back=(), **kw):
    drops = []
    box = Inbox(queues, back, on_drop=lambda key, index: drops.append((key, index)), **kw)
    return box, drops


def test_take_hands_one_aligned_set_per_index_and_none_at_the_end():
    box, drops = make({"a": (8, "block"), "b": (8, "block")})
    for i in range(3):
        box.put("a", pkt(i))
        box.put("b", pkt(i, 10 * i))
    box.put("a", END)
    box.put("b", END)
    got = []
    while (item := box.take()) is not None:
        got.append((item.seq, item.packets["a"].value, item.packets["b"].value))
    assert got == [(0, 0, 0), (1, 1, 10), (2, 2, 20)] and drops == []


def test_an_index_missing_on_one_input_is_dropped_on_the_others():
    box, drops = make({"a": (8, "block"), "b": (8, "block")})
    for i in (0, 1, 2):
        box.put("a", pkt(i))
    for i in (0, 2):                # index 1 was dropped upstream on b's branch
        box.put("b", pkt(i))
    assert box.take().packets["a"].index == 0
    assert box.take().packets["a"].index == 2
    assert drops == [("a", 1)]


def test_a_stream_that_ends_early_drops_what_can_no_longer_align():
    box, drops = make({"a": (8, "block"), "b": (8, "block")})
    box.put("a", pkt(0))
    box.put("a", pkt(1))
    box.put("b", pkt(0))
    box.put("b", END)
    assert box.take().packets["b"].index == 0
    box.put("a", END)
    assert box.take() is None
    assert drops == [("a", 1)]


def test_drop_oldest_and_drop_newest_keep_the_queue_bounded_and_count_drops():
    oldest, d1 = make({"a": (2, "drop_oldest")})
    newest, d2 = make({"a": (2, "drop_newest")})
    for i in range(5):
        oldest.put("a", pkt(i))
        newest.put("a", pkt(i))
    assert [p.index for p in oldest.queues["a"]] == [3, 4] and [i for _, i in d1] == [0, 1, 2]
    assert [p.index for p in newest.queues["a"]] == [0, 1] and [i for _, i in d2] == [2, 3, 4]


def test_block_policy_waits_for_space_until_stopped():
    stop = threading.Event()
    box, _ = make({"a": (1, "block")}, stop=stop)
    box.put("a", pkt(0))
    t = threading.Thread(target=box.put, args=("a", pkt(1)))
    t.start()
    t.join(0.3)
    assert t.is_alive()              # full: the producer waits (backpressure)
    stop.set()
    box.wake()
    t.join(2)
    assert not t.is_alive()


def test_a_back_edge_gives_the_previous_sets_value_and_waits_for_the_loop_to_close():
    box, _ = make({"a": (8, "block")}, back=["prev"])
    box.put("a", pkt(0))
    box.put("a", pkt(1))
    got = box.take()
    assert got.packets["a"].index == 0 and got.back["prev"] is None          # nothing before the first frame
    result = []
    t = threading.Thread(target=lambda: result.append(box.take()))
    t.start()
    t.join(0.3)
    assert t.is_alive()              # frame 1 waits until the loop delivered frame 0's value
    box.put_back("prev", pkt(0, "loop value of frame 0"))
    t.join(2)
    got = result[0]
    assert got.packets["a"].index == 1 and got.index == 1 and got.back["prev"].value == "loop value of frame 0"


def test_depth_callback_sees_each_queued_packet_but_not_the_end_marker():
    depths = []
    box = Inbox({"a": (4, "block")}, on_depth=lambda key, d: depths.append(d))
    box.put("a", pkt(0))
    box.put("a", pkt(1))
    box.put("a", END)
    assert depths == [1, 2]


def test_a_queue_is_also_full_at_its_byte_bound_but_one_packet_always_fits():
    import numpy as np

    from graphrun.runtime.inbox import payload_bytes

    big = np.zeros((1000, 1000), np.uint8)                 # 1 MB
    assert payload_bytes(big) == 10**6 and payload_bytes({"a": big, "b": [big]}) == 2 * 10**6
    box, drops = make({"a": (8, "drop_oldest")}, max_bytes=int(2.5e6))
    for i in range(5):
        box.put("a", Packet(i, 0.0, big, None, 0.0, big.nbytes))
    assert [p.index for p in box.queues["a"]] == [3, 4] and len(drops) == 3
    huge, _ = make({"a": (8, "block")}, max_bytes=10)
    huge.put("a", Packet(0, 0.0, big, None, 0.0, big.nbytes))     # bigger than the bound: still fits alone
    assert len(huge.queues["a"]) == 1
