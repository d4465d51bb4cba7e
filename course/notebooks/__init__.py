"""The course's notebooks: one per step and the meta-task, in nbgrader's source format.

Each notebook is written once, as Python, in ``content/<name>.py`` (prose, experiments, questions
with their model answers, autograded answers with their hidden tests). ``python -m course.notebooks``
(or ``course notebooks``) builds from it, with nbformat:

* ``source/<name>/<name>.ipynb``: the nbgrader source notebook (model answers and hidden tests
  included), which ``nbgrader generate_assignment <name>`` turns into the student version;
* the ``<!-- notebook -->`` block of ``exercises/<step>/README.md``: the notebook's experiments and
  questions, so that the README and the notebook cannot drift apart.

``content/`` and ``source/`` are the instructor's: ``course release`` leaves them out and puts the
released notebooks (``<name>.ipynb``, made by nbgrader) here instead.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source"
NAMES = [f"step{n:02d}" for n in range(12)] + ["meta"]
