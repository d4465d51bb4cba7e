"""Step 01 notebook: tokenizers."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step01", "Tokenizers", [
    Markdown("""
        # Step 01: tokenizers, from text to discrete symbols

        A model cannot read text; it reads integers. The tokenizer decides what one integer stands for,
        and so what the *atoms* of the model's world are. A character tokenizer gives one id per
        character it saw when its vocabulary was built, and needs an `[UNK]` id for everything else.
        Byte-level BPE starts from the 256 possible bytes of UTF-8, so it can encode any text at all, and
        then learns merges: the most frequent pair of neighbouring ids becomes a new id, again and again,
        until frequent words are single tokens and rare ones are spelled from pieces.

        The choice matters downstream: it sets the vocabulary size (the width of the model's first and last
        layers) and how many tokens a text costs, and so how much text fits in the model's context.
    """),
    Code("""
        from course.data import shakespeare
        from course.lab import load, whose_code

        char_tokenizer = load("step01.char_tokenizer")
        bpe = load("step01.bpe")
        regex_bpe = load("step01.regex_bpe")
        print("running", whose_code())

        english = "The quick brown fox jumps over the lazy dog. To be, or not to be: that is the question."
        foreign = "Café déjà vu 🙂 — naïve façade, 東京."
    """),
    Experiment("Add a sentence with accents and emoji, rebuild the character vocabulary, and compare.", """
        Build a `CharTokenizer` on the English text only and encode the new sentence: which characters come
        out as `[UNK]` (id 0)? Then rebuild the vocabulary with the sentence included and compare the
        vocabulary sizes and the encodings.
    """, """
        before = char_tokenizer.CharTokenizer(english)
        after = char_tokenizer.CharTokenizer(english + foreign)
        ids = before.encode(foreign)
        print("vocabulary:", before.vocab_size, "->", after.vocab_size)
        print("unknown before:", sorted({ch for ch, i in zip(foreign, ids) if i == 0}))
        print("decoded before:", before.decode(ids))
        print("decoded after: ", after.decode(after.encode(foreign)))
    """),
    Experiment("Train byte-level BPE, retrain it with the new sentence, and compare token counts and encoded lengths.", """
        Train the regex BPE of this step on the first 30,000 characters of Shakespeare, to 300 and to 400
        ids; then retrain the 400-id one with the accented sentence added (200 times, so that its byte
        pairs are frequent enough to win merges against Shakespeare's). Compare the number of tokens and the bytes per token on an English
        line and on the accented one. Print `pieces` to see how each text was cut.
    """, """
        text = shakespeare()[:30_000]
        tokenizers = {"characters": char_tokenizer.CharTokenizer(text)}
        for size in (300, 400):
            tokenizers[f"BPE {size}"] = regex_bpe.RegexBPETokenizer(regex_bpe.train_regex(text, size))
        tokenizers["BPE 400+new"] = regex_bpe.RegexBPETokenizer(regex_bpe.train_regex(text + 200 * foreign, 400))
        for name, tokenizer in tokenizers.items():
            for sample in (english, foreign):
                stats = tokenizer.token_stats(sample)
                print(f"{name:>11}: {stats['tokens']:3d} tokens, {stats['bytes_per_token']:.2f} bytes/token  {sample[:20]!r}")
        print(tokenizers["BPE 400"].pieces(english)[:20])
        print(tokenizers["BPE 400"].pieces(foreign))
        print(tokenizers["BPE 400+new"].pieces(foreign))
    """),
    Question("step01-single-split", 2, """
        Which characters became single tokens, and which were split into several? Explain both with UTF-8
        and with what the merges were trained on.
    """, """
        ASCII letters, digits and punctuation are one byte each, so the byte-level tokenizer has a token for
        each of them from the start; frequent English words and word pieces of the training text became
        single tokens through merges. Accented letters (2 bytes), the dash and CJK characters (3 bytes) and
        the emoji (4 bytes) were split into their bytes, because the Shakespeare text never contained them
        and so no merge joined their bytes. The character tokenizer has no splitting at all: a character is
        one id or `[UNK]`.
    """),
    Question("step01-unk", 2, """
        Why does the character tokenizer need `[UNK]` at all, and why does byte-level BPE never need it?
    """, """
        The character tokenizer only has ids for the characters it saw when the vocabulary was built; any
        other character must map to something, or encoding fails, so it maps to `[UNK]` and the information
        is lost (decoding cannot bring it back). Byte-level BPE starts with all 256 byte values, and every
        text is a sequence of bytes in UTF-8, so every text can be encoded exactly, at worst one token per byte.
    """),
    Question("step01-merge-order", 1, """
        Why must encoding apply the merges in the order they were learned?
    """, """
        Later merges were learned on text where the earlier merges had already been applied: a merge may
        combine ids that only exist because of an earlier merge. Applying them in another order would give
        a different split from the one seen in training, or miss merges whose parts never form.
    """),
    Question("step01-boundary", 1, """
        Why does the regex tokenizer split the text into chunks (words, numbers, punctuation, spaces) before
        learning merges? What would go wrong if merges could cross the boundary between a word and the space
        before the next one?
    """, """
        Without the split, frequent neighbours across word boundaries merge too: "e t" or "d the" become tokens,
        so the same word gets different tokens depending on what precedes or follows it, and the vocabulary
        fills with fragments of phrases instead of reusable words and word pieces. Splitting first keeps every
        token inside one chunk, so "the" is encoded the same everywhere.
    """),
    Numeric("step01-bytes", 1, """
        Before any merge, how many ids does byte-level BPE produce for the text `Café 🙂` (C, a, f, é, a
        space and the emoji)?
    """, "byte_ids", """
        byte_ids = len("Café 🙂".encode("utf-8"))  # 3 + 2 (é) + 1 + 4 (emoji)
    """, """
        assert isinstance(byte_ids, int), "byte_ids must be a whole number"
    """, """
        assert byte_ids == 10, byte_ids
    """),
    Numeric("step01-vocab", 1, """
        A byte-level BPE tokenizer was trained with 1,000 merges. How many ids does its vocabulary have?
    """, "bpe_vocab_size", """
        bpe_vocab_size = 256 + 1000
    """, """
        assert isinstance(bpe_vocab_size, int), "bpe_vocab_size must be a whole number"
    """, """
        assert bpe_vocab_size == 1256, bpe_vocab_size
    """),
    Markdown("""
        **What to take away.** Tokenization defines the atoms of the model's world: what counts as one
        symbol, what can be said at all, and how many symbols a text costs.
    """),
])
