"""The exercises: fill in the stubs, then run pytest exercises/stepNN to see your points."""
