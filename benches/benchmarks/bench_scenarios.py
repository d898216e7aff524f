"""asv benchmarks of the built-in scenarios (issue 10: each runs in under 5 s): the build, and the
run of each one.

    asv run -E existing:$(which python) --bench bench_scenarios
"""

import liqsim


class BuiltinScenarios:
    params = liqsim.scenarios.names()
    param_names = ["scenario"]
    timeout = 120

    def setup(self, name):
        self.scn = liqsim.scenarios.load(name)

    def time_load(self, name):
        liqsim.scenarios.load(name)

    def time_simulate(self, name):
        liqsim.simulate(self.scn)
