"""The meta-task notebook: draw the whole training and generation pipeline."""

from course.notebooks.build import Drawing, Graded, Markdown, Notebook, Question

REFERENCE_TRAINING = '''
text (Shakespeare, 1.1 M characters)
  -> tokenizer (characters or byte-level BPE)
  -> token ids (N,)
  -> batches: x and y = x shifted by one, both (B, T)
  -> token embedding + position embedding (B, T, C)
  -> N x block: x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)) (B, T, C)
  -> final LayerNorm -> lm head (tied to the token table)
  -> logits (B, T, V)
  -> cross-entropy loss against y (a number)
  -> backward: gradients -> clip the global norm -> AdamW step (learning rate from the schedule)
'''
REFERENCE_GENERATION = '''
prompt text
  -> token ids (1, T)
  -> crop to the last block_size ids -> the model (embeddings, N blocks, final norm)
  -> logits of the last position (V,)
  -> temperature -> top-k -> top-p -> softmax -> sample one token
  -> next token appended to the ids, repeat until max_new_tokens -> decode to text
'''

DRAWING_ANSWER = f"""*Reference diagram (instructors): a drawing should show at least these boxes and shapes.*

**Training**
```text{REFERENCE_TRAINING}```

**Generation**
```text{REFERENCE_GENERATION}```

Marking: 2 points for the training chain in the right order (text to optimiser step, including the loss
against the shifted targets), 2 for the generation loop (last position's logits, a sampling rule, the token
appended and fed back), 1 for correct shapes on the arrows."""

NOTEBOOK = Notebook("meta", "The whole pipeline", [
    Markdown("""
        # The meta-task: draw the whole pipeline

        You have built every piece of a GPT: the tokenizer, the dataset, the embeddings, attention, the block,
        the model, the training loop and the decoding rules. Now put them together without code: **draw the
        entire training and generation pipeline, just boxes and arrows.** Anyone who can draw it from memory,
        with the shape of the tensor on every arrow, knows how a transformer language model works.

        Do it twice in this notebook:

        1. **On paper or a tablet** (graded by hand): draw it, take a photo or export an image, and put it in
           the answer cell below. In JupyterLab, double-click the answer cell and drag the image file into it
           (or paste it); the image is stored inside the notebook. Label the tensor shapes: (B, T), (B, T, C),
           (B, T, V).
        2. **As text arrows** (checked automatically): two chains of boxes joined by `->`, one for training
           (from raw text to the optimiser's update) and one for generation (from a prompt to the text it
           writes). The check looks for the main stages in a valid order and tells you which it cannot find.

        Try it from memory first, then check yourself against your code.
    """),
    Drawing("meta-drawing", 5, """
        Your drawing of the whole pipeline, training and generation, with the tensor shapes on the arrows.
        Drag the image into this cell (replace the text).
    """, DRAWING_ANSWER),
    Graded("meta-text", 6, """
        Write the two pipelines as text arrows: set `TRAINING` and `GENERATION` to strings of boxes joined
        by `->` (one box may span several words; line breaks are fine). The next cell prints which stages
        it found in order and gives the points.
    """, f'TRAINING = """{REFERENCE_TRAINING}"""\nGENERATION = """{REFERENCE_GENERATION}"""', """
        # Checks the two diagrams: the stages it finds, in a valid order, earn their share of the points.
        from course.lab import pipeline_report

        pipeline_report(TRAINING, GENERATION).points(6)
    """),
    Question("meta-learned", 2, """
        Three things you learned by building the model that reading about transformers did not tell you.
    """, """
        Any three specific, correct observations earn the points, for example: the labels are just the text
        shifted by one, so one window trains T predictions at once; the causal mask is what makes that parallel
        training honest; without residuals a 16-block stack loses its input and its first-layer gradient; the
        loss at initialisation should be ln(V), a quick sanity check; the same trained model writes very
        different text depending only on the decoding rule.
    """),
])
