"""Reference solutions (instructors only): the stubs in exercises/ are generated from these files."""
