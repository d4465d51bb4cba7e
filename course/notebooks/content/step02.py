"""Step 02 notebook: the dataset by shifting."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step02", "The dataset by shifting", [
    Markdown("""
        # Step 02: the dataset, made by shifting

        Where do the labels of a language model come from? From the text itself. Take a window of T tokens as
        the input `x`; the target `y` is the same window moved one token to the right. At position t the
        model has seen `x[0..t]` and must predict `y[t]`, the token that really came next. No one labels
        anything, so every text you have is training data.

        A batch stacks B random windows into a (B, T) tensor of inputs and one of targets. The validation
        text is cut from the end of the corpus in one piece, so that no validation window overlaps a
        training one.
    """),
    Code("""
        import torch
        from course.data import shakespeare
        from course.lab import char_corpus, load, whose_code

        dataset = load("step02.dataset")
        print("running", whose_code())

        text = shakespeare()[:20_000]
        tokenizer, ids = char_corpus(text)  # your step 01 CharTokenizer, and the text as ids (N,)
    """),
    Experiment("Print one (x, y) pair from a batch as integers and as arrows, and decode both rows.", """
        Draw a batch of 4 windows of 8 tokens and look at the first pair.
    """, """
        x, y = dataset.get_batch(ids, batch_size=4, block_size=8, generator=torch.Generator().manual_seed(0))
        print("shapes:", tuple(x.shape), tuple(y.shape))
        print(x[0].tolist(), y[0].tolist())
        print(dataset.format_pair(x[0], y[0]))
        print(repr(tokenizer.decode(x[0].tolist())), "->", repr(tokenizer.decode(y[0].tolist())))
    """),
    Experiment("Count the training windows for block sizes 8, 64 and 256.", """
        How many windows does this 20,000-character text hold, and how many predictions is that?
    """, """
        for block_size in (8, 64, 256):
            windows = dataset.num_examples(ids.numel(), block_size)
            print(f"block {block_size:3d}: {windows:,} windows, {windows * block_size:,} predictions")
    """),
    Question("step02-labels", 1, """
        Where do the labels come from? Who wrote them?
    """, """
        From the text itself: the label of each position is simply the next token of the text. The authors of
        the text wrote them, without knowing it; no one annotates anything, which is why language models can
        train on as much text as exists.
    """),
    Question("step02-how-many", 2, """
        How many training examples does one string of N tokens give for block size T? Count the windows and
        the predictions.
    """, """
        A window needs T inputs and T targets, so it can start anywhere from 0 to N - T - 1: N - T windows.
        Each window holds T predictions (position t predicts from the t + 1 tokens before it), so N - T
        windows give (N - T) * T predictions, though windows overlap and each target token appears in up to
        T of them, with a different amount of context each time.
    """),
    Question("step02-split", 1, """
        Why is the validation set one piece cut from the end rather than random windows?
    """, """
        Windows overlap: a random validation window shares almost all of its tokens with training windows
        that start a few positions earlier or later, so the model would be tested on text it has trained on
        and the validation loss would look better than it is. One piece at the end keeps the two sets apart
        (except at the single boundary).
    """),
    Numeric("step02-windows", 1, """
        How many (x, y) windows of block size 8 does a text of 1,000 tokens hold?
    """, "windows", """
        windows = 1000 - 8
    """, """
        assert isinstance(windows, int), "windows must be a whole number"
    """, """
        assert windows == 992, windows
    """),
    Markdown("""
        **What to take away.** Labels are free: shifting the text by one token turns any text into
        training data.
    """),
])
