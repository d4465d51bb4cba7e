"""Grading suite for step 02: building (x, y) pairs by shifting (``dataset.py``).

Run it with ``pytest exercises/step02``. Token ids here are random, drawn from the test's
seed; a probe at the bottom of the file runs your Dataset through a real DataLoader.
"""

import torch

from grader import hint, points


def random_ids(generator, n=50, vocab_size=100):
    return torch.randint(0, vocab_size, (n,), generator=generator)


SHIFTED = "y is x shifted by one: y[:, :-1] must equal x[:, 1:] (and get_batch returns (x, y) in that order)"
INT64 = "token ids stay int64 (the dtype of ids): an embedding lookup and the cross-entropy targets need integer ids"


def expect_ids(*tensors):
    """torch.equal does not look at dtypes: check them here."""
    with hint(INT64):
        for tensor in tensors:
            assert tensor.dtype == torch.int64, f"got a {tensor.dtype} tensor where int64 ids were expected"


@points(3, hint="targets y are the inputs shifted left by one: x = ids[s : s+T], y = ids[s+1 : s+T+1]")
def test_shift_pair(student, generator):
    ids = torch.arange(10, 20)
    x, y = student.dataset.shift_pair(ids, 0, 3)
    assert x.tolist() == [10, 11, 12]
    assert y.tolist() == [11, 12, 13]
    ids = random_ids(generator)
    for start in (0, 7, 50 - 8 - 1):
        x, y = student.dataset.shift_pair(ids, start, 8)
        expect_ids(x, y)
        assert torch.equal(x, ids[start:start + 8])
        assert torch.equal(y, ids[start + 1:start + 9])


@points(2, hint="N tokens give N - T windows: every start from 0 to N - T - 1 has a full target")
def test_num_examples(student):
    assert student.dataset.num_examples(10, 3) == 7
    assert student.dataset.num_examples(1_000_000, 256) == 999_744
    with hint("a text no longer than one window has no complete (x, y) pair: 0, not a negative number"):
        assert student.dataset.num_examples(4, 4) == 0
        assert student.dataset.num_examples(2, 8) == 0


@points(3, hint="get_batch stacks B windows into (B, T) tensors: draw the starts with "
                "torch.randint(0, N - T, (B,), generator=generator) and build row b like shift_pair")
def test_get_batch_matches_its_starts(student, generator):
    ids = random_ids(generator, n=40)
    expected_starts = torch.randint(0, 40 - 5, (6,), generator=torch.Generator().set_state(generator.get_state()))
    x, y = student.dataset.get_batch(ids, 6, 5, generator=generator)
    with hint("x and y have shape (B, T): one row per start, batch_size rows of block_size tokens"):
        assert tuple(x.shape) == (6, 5) and tuple(y.shape) == (6, 5), f"got {tuple(x.shape)} and {tuple(y.shape)}"
    expect_ids(x, y)
    with hint(SHIFTED):
        assert torch.equal(y[:, :-1], x[:, 1:])
    for row, start in enumerate(expected_starts.tolist()):
        assert torch.equal(x[row], ids[start:start + 5])
        assert torch.equal(y[row], ids[start + 1:start + 6])


@points(2, hint="use the generator you are given (torch.randint(..., generator=generator)): "
                "the same seed must give the same batch")
def test_get_batch_is_reproducible(student, seed):
    ids = torch.arange(1000)
    first = student.dataset.get_batch(ids, 8, 4, generator=torch.Generator().manual_seed(seed))
    again = student.dataset.get_batch(ids, 8, 4, generator=torch.Generator().manual_seed(seed))
    other = student.dataset.get_batch(ids, 8, 4, generator=torch.Generator().manual_seed(seed + 1))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])
    # One generator, two calls: the second batch is the next draw of the same stream.
    with hint("each call draws from the generator you are given, so its state moves on and the next call gets "
              "another batch: use it as it is, not a copy made from its state or its seed"):
        stream = torch.Generator().manual_seed(seed)
        expected = [torch.randint(0, 1000 - 4, (8,), generator=stream) for _ in range(2)]
        batches = student.probe(two_batches_from_one_generator, student.dataset.get_batch, ids, 8, 4, seed)
        assert [batch[:, 0].tolist() for batch in batches] == [starts.tolist() for starts in expected], \
            "the two batches do not start where two draws of torch.randint from one generator do"
    with hint("without a generator, draw from torch's global generator (generator=None in torch.randint), so "
              "that torch.manual_seed(...) decides the batch; a fixed or fresh torch.Generator() ignores it"):
        expected = torch.randint(0, 1000 - 4, (8,), generator=torch.Generator().manual_seed(seed + 7))
        batch = student.probe(batch_after_manual_seed, student.dataset.get_batch, ids, 8, 4, seed + 7)
        assert batch[:, 0].tolist() == expected.tolist(), "torch.manual_seed does not decide the batch"


@points(1, hint="starts lie in [0, N - T): the last window starts at N - T - 1, and its target ends at ids[N - 1]")
def test_get_batch_reaches_the_last_window(student, generator):
    ids = torch.arange(6)
    x, y = student.dataset.get_batch(ids, 200, 4, generator=generator)  # starts can only be 0 or 1
    with hint(SHIFTED):
        assert torch.equal(y[:, :-1], x[:, 1:])
    assert set(x[:, 0].tolist()) == {0, 1}
    assert int(y.max()) == 5


@points(1, hint="move x and y to the requested device with .to(device)")
def test_get_batch_device(student):
    # "meta" is a device whose tensors have a shape but no data: x and y must arrive there.
    x, y = student.dataset.get_batch(torch.arange(20), 2, 3, generator=torch.Generator().manual_seed(0),
                                     device="meta")
    assert (x.device.type, y.device.type) == ("meta", "meta"), f"x is on {x.device}, y on {y.device}"
    with hint("x and y have shape (B, T)"):
        assert tuple(x.shape) == tuple(y.shape) == (2, 3)


@points(2, hint="split contiguously: the first 90% of the tokens train, the last 10% validate (no shuffling)")
def test_train_val_split(student, generator):
    ids = random_ids(generator, n=1003)
    train, val = student.dataset.train_val_split(ids)
    cut = int(1003 * 0.9)
    with hint("training gets int(N * (1 - val_fraction)) tokens, rounded down (902 of 1003), validation the rest"):
        assert len(train) == cut, f"train has {len(train)} tokens"
    assert torch.equal(train, ids[:cut])
    assert torch.equal(val, ids[cut:])
    train, val = student.dataset.train_val_split(ids, val_fraction=0.25)
    assert len(train) == int(1003 * 0.75) and torch.equal(torch.cat([train, val]), ids)


@points(2, hint="a Dataset's __len__ is the number of windows (N - T) and item i is the window starting at i",
        builds_on={"shift_pair": "test_shift_pair", "num_examples": "test_num_examples"})
def test_dataset_len_and_items(student, generator):
    ids = random_ids(generator, n=30)
    dataset = student.dataset.NextTokenDataset(ids, 4)
    assert len(dataset) == 26
    for i in (0, 13, 25):
        x, y = dataset[i]
        expect_ids(x, y)
        assert torch.equal(x, ids[i:i + 4]) and torch.equal(y, ids[i + 1:i + 5])
    with hint("an index outside [0, len(dataset)) raises IndexError: a for loop over the dataset stops on it, and "
              "a negative index is not a window"):
        for bad in (26, 100, -1):
            try:
                dataset[bad]
            except IndexError:
                continue
            raise AssertionError(f"dataset[{bad}] did not raise IndexError (the dataset has 26 windows)")


@points(2, hint="NextTokenDataset must subclass torch.utils.data.Dataset so a DataLoader can batch it into (B, T) "
                "tensors; __len__ must count the windows",
        builds_on={"NextTokenDataset": "test_dataset_len_and_items"})
def test_dataset_works_with_a_dataloader(student, generator):
    ids = random_ids(generator, n=23)
    dataset = student.dataset.NextTokenDataset(ids, 3)
    report = student.probe(run_dataloader, dataset, batch_size=4)
    assert "torch.utils.data.dataset.Dataset" in report["classes"], \
        f"NextTokenDataset's base classes are {report['classes']}"
    assert report["first_x_shape"] == (4, 3)
    assert report["batches"] == 5  # 20 windows in batches of 4
    assert torch.equal(report["first_x"], torch.stack([ids[i:i + 3] for i in range(4)]))


@points(2, hint="write the pair as 'x: 10 → 11 → 12' and 'y: 11 → 12 → 13' on two lines, ids joined by ' → '")
def test_format_pair(student):
    text = student.dataset.format_pair(torch.tensor([10, 11, 12]), torch.tensor([11, 12, 13]))
    assert text == "x: 10 → 11 → 12\ny: 11 → 12 → 13"
    assert student.dataset.format_pair([5], [6]) == "x: 5\ny: 6"


# --- probes: trusted helpers that run next to your code ------------------------------

def two_batches_from_one_generator(get_batch, ids, batch_size, block_size, seed):
    """The x of two calls of ``get_batch`` that share one generator (in the worker, where it is one object)."""
    generator = torch.Generator().manual_seed(seed)
    return [get_batch(ids, batch_size, block_size, generator=generator)[0] for _ in range(2)]


def batch_after_manual_seed(get_batch, ids, batch_size, block_size, seed):
    """The x of ``get_batch`` without a generator, after seeding torch's global one."""
    torch.manual_seed(seed)
    return get_batch(ids, batch_size, block_size)[0]


def run_dataloader(dataset, batch_size):
    """Batch the dataset with a real DataLoader, in order: what comes out, and the dataset's classes."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    batches = list(loader)
    first_x, first_y = batches[0]
    classes = [f"{cls.__module__}.{cls.__qualname__}" for cls in type(dataset).__mro__]
    return {"classes": classes, "batches": len(batches),
            "first_x_shape": tuple(first_x.shape), "first_x": first_x}
