"""Step 03 notebook: embeddings and positions."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step03", "Embeddings and positions", [
    Markdown("""
        # Step 03: embeddings by indexing, and where a token stands

        A token id is a name, not a quantity: id 11 is not "a bit more" than id 10. So the model never does
        arithmetic on ids. It looks each one up in a table of learned vectors, one row per id, and from then
        on works with vectors. An `nn.Embedding` is nothing but that lookup, which you wrote as indexing.

        Attention (step 05) on its own treats its inputs as a set: shuffle the tokens and each one gets the
        same result. The causal mask only says who may see whom; how far back a token stands is not in it.
        Where a token stands must therefore be added to its vector, either as a learned vector per position
        or as the fixed sinusoidal encoding of the original transformer.
    """),
    Code("""
        import torch
        from course.data import shakespeare
        from course.lab import char_corpus, load, whose_code

        embedding = load("step03.embedding")
        positional = load("step03.positional")
        dataset = load("step02.dataset")
        print("running", whose_code())

        tokenizer, ids = char_corpus(shakespeare()[:20_000])  # your step 01 CharTokenizer, and the ids (N,)
        V = tokenizer.vocab_size
    """),
    Experiment("Print the embedding vectors of `x[0, 0]` and `x[0, 1]`, and of two neighbouring ids.", """
        The vectors of ids that differ by one have nothing in common: the table starts random, and what a row
        becomes depends only on how its token is used.
    """, """
        torch.manual_seed(0)
        table = embedding.Embedding(V, 8)
        x, _ = dataset.get_batch(ids, batch_size=2, block_size=8, generator=torch.Generator().manual_seed(0))
        vectors = table(x)  # (B, T, C)
        print("ids:", x[0, 0].item(), x[0, 1].item())
        print(vectors[0, 0], vectors[0, 1], sep="\\n")
        a, b = tokenizer.encode("ab")
        print(f"ids of 'a' and 'b': {a}, {b}")
        print(table(torch.tensor([a, b])))
    """),
    Experiment("Remove the positions and feed `abc` and `cba`.", """
        With `positions=None` the input layer gives each token the same vector wherever it stands, so the
        rows of `abc` and `cba` are the same vectors in another order. With learned positions they differ.
    """, """
        abc, cba = torch.tensor([tokenizer.encode("abc")]), torch.tensor([tokenizer.encode("cba")])
        for positions in (None, "learned"):
            torch.manual_seed(0)
            layer = positional.TokenAndPositionEmbedding(V, 16, 8, positions=positions)
            out_abc, out_cba = layer(abc)[0], layer(cba)[0]
            same = torch.allclose(out_abc, out_cba.flip(0))
            print(f"positions={positions!r}: abc is cba reversed, row for row: {same}")
    """),
    Experiment("Look at the sinusoidal encoding.", """
        Which dimensions change fast from one position to the next, and which slowly?
    """, """
        table = positional.sinusoidal_encoding(64, 16)
        torch.set_printoptions(precision=2, sci_mode=False)
        print("position 0: ", table[0])
        print("position 1: ", table[1])
        print("position 63:", table[63])
    """),
    Question("step03-magnitude", 2, """
        Does the size of a token id matter? What would a model believe if it were fed the id as one number, and
        why does a lookup not have that problem?
    """, """
        No. Fed as a number, the id would be a measurement: the model would treat id 11 as close to id 10 and
        id 10 as twice id 5, an order and a distance between tokens that the numbering does not mean, and one weight
        times the id can only grow or shrink along one line. A lookup gives each id its own row, so every
        token gets an independent vector and similarity between tokens is learned from how they are used.
    """),
    Question("step03-no-positions", 2, """
        What happens if the positional embeddings are removed? What can the model no longer tell apart?
    """, """
        Every token gets the same input vector wherever it stands. Attention without a mask is
        permutation-equivariant, so such a model sees a bag of tokens: "dog bites man" and "man bites dog" look
        the same. With the causal mask, position t sees exactly t + 1 tokens, so a deep causal model can still
        work out some order (for instance by counting how much there is to attend to), and such models do learn
        language, but the input layer gives it nothing: order has to be inferred indirectly, which is less
        precise and wastes capacity, and without the mask word order would be lost entirely.
    """),
    Question("step03-gradient", 1, """
        Why does the gradient of a lookup touch only the rows that were used? What does that mean for a token
        that never appears in the training text?
    """, """
        A lookup copies row i for every occurrence of id i; the output does not depend on the other rows at all,
        so their gradient is exactly zero (the one-hot matrix product shows it: a row with a zero coefficient).
        A token that never appears in training keeps its random initial vector (apart from weight decay), so the
        model has learned nothing about it.
    """),
    Question("step03-far-positions", 1, """
        A learned position table stops at block_size. What does the sinusoidal encoding give for position
        10,000, and why might a model still fail there?
    """, """
        The formula gives a well-defined vector for any position, so 10,000 has an encoding. But the model was
        trained only on positions below block_size: the combinations of sines and cosines it sees at 10,000 were
        never in its training data, and attention over such long contexts was never learned, so nothing
        guarantees sensible behaviour; extrapolating in length needs more (RoPE scaling, ALiBi, training on long
        contexts).
    """),
    Question("step03-rope", 2, """
        Explain RoPE (rotary position embedding) conceptually, in three sentences: where does it put the
        position, and what does the dot product of a query and a key then depend on?
    """, """
        RoPE adds nothing to the token vectors; instead it rotates each pair of query and key coordinates by an
        angle proportional to the token's position (with a different frequency per pair, as in the sinusoidal
        encoding). The dot product of a rotated query at position m and a rotated key at position n depends only
        on their contents and on m - n, so attention sees relative distances directly. It is applied in every
        attention layer, works for any length in principle, and is what Llama and most recent models use (step 11).
    """),
    Numeric("step03-parameters", 1, """
        How many parameters do a token table for 65 ids and a learned position table for 32 positions hold,
        both with vectors of size 64?
    """, "embedding_parameters", """
        embedding_parameters = 65 * 64 + 32 * 64
    """, """
        assert isinstance(embedding_parameters, int), "embedding_parameters must be a whole number"
    """, """
        assert embedding_parameters == 6208, embedding_parameters
    """),
    Markdown("""
        **What to take away.** Ids are identifiers, not measurements. What a token means is learned, one row at
        a time, and where it stands has to be added on purpose.
    """),
])
