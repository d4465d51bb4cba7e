"""Step 10 notebook: generation."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step10", "Generation", [
    Markdown("""
        # Step 10: generation, greedy, temperature, top-k, top-p

        A model never writes a word: it gives a distribution over the next token. A decoding rule, outside the
        model, picks one token, appends it and asks again. Greedy decoding takes the argmax and gives one
        text per prompt; sampling draws from the distribution and gives a different text each time.
        Temperature divides the logits before the softmax (below 1 sharper, above 1 flatter); top-k keeps
        the k likeliest tokens; top-p keeps the smallest set whose probability reaches p.
    """),
    Code("""
        import torch
        from course.data import tinystories
        from course.lab import char_corpus, load, whose_code

        sampling = load("step10.sampling")
        gpt = load("step08.gpt")
        bigram = load("step00.bigram")
        print("running", whose_code())

        # The course's generated children's stories: simple enough that a tiny GPT learns them in seconds.
        tokenizer, ids = char_corpus(tinystories()[:100_000])
        torch.manual_seed(0)
        model = gpt.GPT(gpt.GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=48))
        losses = bigram.train(model, ids, steps=600, batch_size=32, block_size=32, lr=3e-3)  # about 10 seconds
        print(f"trained: loss {losses[0]:.2f} -> {sum(losses[-10:]) / 10:.2f}")
        prompt = torch.tensor([tokenizer.encode("Once upon a time")])

        def write(**settings):
            out = sampling.generate(model, prompt, 80, block_size=32, **settings)
            return tokenizer.decode(out[0].tolist())
    """),
    Experiment("Replace argmax with sampling.", """
        Temperature 0 is greedy. Where does the greedy text start repeating itself?
    """, """
        print("greedy:\\n" + write(temperature=0))
        print("\\nsampled, T = 1:\\n" + write(temperature=1.0, generator=torch.Generator().manual_seed(0)))
    """),
    Experiment("Generate several sequences from one prompt.", """
        Five seeds, the same prompt, the same model. What do the five continuations share?
    """, """
        for seed in range(5):
            print(repr(write(temperature=1.0, generator=torch.Generator().manual_seed(seed))[16:80]))
    """),
    Experiment("Temperatures 0.5, 1 and 1.5, and the distribution at one position.", """
        Watch the distribution of the first letter of a name sharpen below 1 and flatten above, and the
        text change with it.
    """, """
        with torch.no_grad():  # where the model has a real choice to make: which name comes next?
            logits = model(torch.tensor([tokenizer.encode("a little girl named ")]))[0][0, -1]
        for temperature in (0.5, 1.0, 1.5):
            probs = torch.softmax(sampling.apply_temperature(logits, temperature), dim=-1)
            top = probs.topk(3)
            shown = ", ".join(f"{tokenizer.decode([i])!r} {p:.2f}" for p, i in zip(top.values.tolist(), top.indices.tolist()))
            print(f"T = {temperature}: top 3 {shown}")
            print("   ", repr(write(temperature=temperature, generator=torch.Generator().manual_seed(0))[16:80]))
    """),
    Experiment("Top-k and top-p: how many tokens does the nucleus keep?", """
        Inside a word the model is sure of the next letter; after "named " many names may come.
    """, """
        line = "there was a little girl named "
        context = torch.tensor([tokenizer.encode(line)])
        with torch.no_grad():
            logits = model(context)[0][0]
        for position in (len("there was a lit") - 1, len(line) - 1):
            kept = torch.isfinite(sampling.top_p_filter(logits[position], 0.9)).sum().item()
            print(f"after {line[:position + 1][-12:]!r}: top-p 0.9 keeps {kept} tokens")
        print(write(temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(0)))
    """),
    Question("step10-diversity", 2, """
        Why does sampling introduce diversity, when the model computes the same probabilities every time?
    """, """
        The model is deterministic: for a given context it always gives the same distribution. Sampling draws
        a token at random from it, so different draws pick different tokens where the distribution is spread,
        and each different token changes the context of every later step, so the continuations drift apart.
        The diversity comes from the random draw, amplified by feeding each choice back in.
    """),
    Question("step10-temperature", 2, """
        Why does temperature matter? What does the distribution become as T → 0 and as T → ∞?
    """, """
        Dividing the logits by T scales the gaps between them: T < 1 widens them, so likely tokens become more
        likely (safer, more repetitive text); T > 1 narrows them, giving more mass to unlikely tokens (more
        varied, more errors). As T → 0 all the mass goes to the argmax: greedy decoding. As T → ∞ the
        distribution becomes uniform over the vocabulary: random characters.
    """),
    Question("step10-top-p", 2, """
        A fixed k is too many tokens at one position and too few at another. Describe both cases and how
        top-p avoids them.
    """, """
        Where the model is sure (the middle of a word) one or two tokens hold almost all the mass, and k = 20
        still lets 18 unlikely tokens be drawn now and then, derailing the text. Where many continuations are
        reasonable (after a space) the mass is spread over dozens of tokens and k = 5 cuts off good ones.
        Top-p keeps the smallest set that holds mass p, so it keeps few tokens when the model is confident and
        many when it is not.
    """),
    Question("step10-minus-inf", 1, """
        Why does a filter set a removed logit to -inf rather than 0?
    """, """
        A logit of 0 is an ordinary score: e^0 = 1, so the token keeps a probability comparable to others and can
        still be drawn (more likely than tokens with negative logits). Only -inf gives e^-inf = 0, so the
        softmax gives the removed token exactly no probability and renormalises over the tokens that are left.
    """),
    Question("step10-order", 1, """
        Top-k does not depend on the temperature, but top-p does. Why? Would you apply the temperature before
        or after top-p?
    """, """
        A positive temperature divides every logit by the same number, which keeps their order, so the k largest
        are the same tokens. Top-p measures probability mass, and the temperature changes the probabilities: a low
        temperature concentrates the mass, so fewer tokens reach p. Applying the temperature first (as this course
        does) makes p refer to the distribution that is actually sampled; applying it after would keep a nucleus
        chosen for T = 1.
    """),
    Numeric("step10-nucleus", 1, """
        The probabilities of four tokens are 0.5, 0.3, 0.15 and 0.05. How many tokens does top-p with p = 0.9
        keep?
    """, "nucleus_size", """
        nucleus_size = 3  # the mass above the third token is 0.8 < 0.9; above the fourth 0.95
    """, """
        assert isinstance(nucleus_size, int), "nucleus_size must be a whole number"
    """, """
        assert nucleus_size == 3, nucleus_size
    """),
    Numeric("step10-temperature-prob", 1, """
        Two tokens have logits 1 and 0. What is the probability of the first at temperature 0.5?
    """, "p_first", """
        import math
        p_first = math.exp(2) / (math.exp(2) + 1)
    """, """
        assert isinstance(p_first, float), "p_first must be a float"
        assert 0 <= p_first <= 1, "a probability lies between 0 and 1"
    """, """
        assert abs(p_first - 0.8808) < 1e-3, p_first
    """),
    Markdown("""
        **What to take away.** Generation is a choice, not a fact. The model gives a distribution; the decoding
        rule decides which of its many texts you get to read.
    """),
])
