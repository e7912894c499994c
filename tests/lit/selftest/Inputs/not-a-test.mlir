// Files under Inputs/ are not tests: this one has no RUN line and would fail as a test.
