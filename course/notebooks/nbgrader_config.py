# nbgrader's configuration for this course: the course directory is this folder, with the
# source notebooks in source/<step>/<step>.ipynb (built by `course notebooks`).
#
#     cd course/notebooks
#     nbgrader generate_assignment step05        # release/step05/step05.ipynb, for the students
#     nbgrader autograde step05                  # grades submitted/<student>/step05/step05.ipynb
#     nbgrader formgrader                        # or grade the written answers in JupyterLab
#     nbgrader export --to grades.csv
#
# The notebooks import the students' own step modules; autograde runs them against the
# reference instead when COURSE_SOLUTIONS=1 is set (see course/lab.py).
from pathlib import Path

c = get_config()  # noqa: F821 (nbgrader provides get_config)
c.CourseDirectory.course_id = "gpt-from-scratch"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)
# A notebook's experiments run in about a minute on a CPU; a cell that hangs is cut off.
c.ExecutePreprocessor.timeout = 300
