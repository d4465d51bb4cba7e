import sys

from course.notebooks.build import main

sys.exit(main())
